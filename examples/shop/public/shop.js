// The front end: shows the catalog and the cart, and posts the checkout form with each line's
// price and the total, as a naive shop would. The back end must not believe any of them.
"use strict";

async function postForm(url, fields) {
  const body = new URLSearchParams(fields);
  const response = await fetch(url, { method: "POST", body });
  if (!response.ok) throw new Error(await response.text());
  return response.json();
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function hidden(name, value) {
  const input = document.createElement("input");
  input.type = "hidden";
  input.name = name;
  input.value = value;
  return input;
}

function recompute() {
  let total = 0;
  for (const row of document.querySelectorAll("#cart tbody tr")) {
    const price = Number(row.querySelector("input[name=price]").value);
    const quantity = Number(row.querySelector("input[name=quantity]").value);
    row.querySelector(".line").textContent = String(price * quantity);
    total += price * quantity;
  }
  document.getElementById("total").value = String(total);
  document.getElementById("total-text").textContent = String(total);
}

function showCart(cart) {
  const body = document.querySelector("#cart tbody");
  body.replaceChildren();
  for (const line of cart.lines) {
    const row = document.createElement("tr");
    row.dataset.item = line.id;
    const name = cell(line.name);
    name.append(hidden("item", line.id));
    const price = cell(String(line.price), "number price");
    price.append(hidden("price", line.price));
    const quantityCell = document.createElement("td");
    const quantity = document.createElement("input");
    quantity.type = "number";
    quantity.name = "quantity";
    quantity.min = "1";
    quantity.max = "99";
    quantity.value = line.quantity;
    quantity.addEventListener("input", recompute);
    quantityCell.append(quantity);
    row.append(name, price, quantityCell, cell("", "number line"));
    body.append(row);
  }
  recompute();
  document.getElementById("pay").disabled = cart.lines.length === 0;
}

async function main() {
  const catalog = await (await fetch("/api/catalog")).json();
  const body = document.querySelector("#catalog tbody");
  for (const item of catalog) {
    const row = document.createElement("tr");
    const add = document.createElement("button");
    add.type = "button";
    add.textContent = "Add to cart";
    add.id = "add-" + item.id;
    add.addEventListener("click", async () => {
      const current = document.querySelector(`#cart tr[data-item="${item.id}"] input[name=quantity]`);
      const quantity = current ? Number(current.value) + 1 : 1;
      showCart(await postForm("/api/cart", { item: item.id, quantity }));
    });
    const action = document.createElement("td");
    action.append(add);
    row.append(cell(item.name), cell(String(item.price), "number"), action);
    body.append(row);
  }
  showCart(await (await fetch("/api/cart")).json());
  document.body.dataset.ready = "yes";
}

main();
