// The lecture's shop: the front end (public/) shows prices and posts them back, and anyone can
// edit them in the browser before they leave. So this back end trusts nothing it receives:
// every price and total is recomputed from its own catalog, and an order whose submitted price
// or total differs is refused with 422 (the price edited down to 100 won). Quantities are
// integers 1..99, unknown items are 404, a checkout that is not a url-encoded form is 415.
//
//   build/release/nuri-example-shop 127.0.0.1:8080 examples/shop/public
//
// GET  /api/catalog          the items, with the server's prices (JSON)
// GET  /api/cart             the cart cookie, priced by the server (JSON)
// POST /api/cart             form item=ID&quantity=N: put N of an item in the cart (0 removes)
// POST /checkout             form item=ID&quantity=N&price=P (repeated) &total=T: the order
// GET  /api/orders/{id:int}  what an order charged (JSON)
#include <nuri/server.h>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct Item {
  std::int64_t id;
  std::string name;
  std::int64_t price;  // won
};

// The only prices that count.
const std::vector<Item> kCatalog = {
    {1, "Mechanical keyboard", 45000},
    {2, "Wireless mouse", 19000},
    {3, "27-inch monitor", 239000},
    {4, "USB-C cable", 3000},
};

const Item* find_item(std::int64_t id) {
  for (const Item& item : kCatalog) {
    if (item.id == id) return &item;
  }
  return nullptr;
}

std::optional<std::int64_t> to_int(std::string_view text) {
  std::int64_t value = 0;
  if (text.empty() || text.size() > 18) return std::nullopt;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

// The cart cookie: "1x2.3x1" (item 1 twice, item 3 once). It comes from the client too, so it
// is parsed as strictly as a form: anything malformed or unknown is dropped.
using Cart = std::map<std::int64_t, std::int64_t>;

Cart parse_cart(std::optional<std::string_view> cookie) {
  Cart cart;
  if (!cookie) return cart;
  std::string_view rest = *cookie;
  while (!rest.empty()) {
    std::size_t dot = rest.find('.');
    std::string_view entry = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view() : rest.substr(dot + 1);
    std::size_t x = entry.find('x');
    if (x == std::string_view::npos) continue;
    auto id = to_int(entry.substr(0, x));
    auto quantity = to_int(entry.substr(x + 1));
    if (id && quantity && find_item(*id) && *quantity >= 1 && *quantity <= 99 && cart.size() < kCatalog.size()) {
      cart[*id] = *quantity;
    }
  }
  return cart;
}

std::string format_cart(const Cart& cart) {
  std::string out;
  for (const auto& [id, quantity] : cart) {
    out += (out.empty() ? "" : ".") + std::to_string(id) + "x" + std::to_string(quantity);
  }
  return out;
}

nlohmann::json cart_json(const Cart& cart) {
  nlohmann::json lines = nlohmann::json::array();
  std::int64_t total = 0;
  for (const auto& [id, quantity] : cart) {
    const Item& item = *find_item(id);
    total += item.price * quantity;
    lines.push_back({{"id", id}, {"name", item.name}, {"price", item.price}, {"quantity", quantity}});
  }
  return {{"lines", lines}, {"total", total}};
}

// The front end posts application/x-www-form-urlencoded, and only that is taken: is_form() alone
// would let multipart/form-data in too.
bool is_urlencoded_form(const nuri::Request& req) { return req.is_form() && !req.is_multipart(); }

void refuse(nuri::Response& res, int status, const std::string& message) {
  res.status(status).html("<!doctype html><meta charset=\"utf-8\"><title>Order refused</title>"
                          "<h1>Order refused</h1><p id=\"message\">" +
                          html_escape(message) + "</p><p><a href=\"/\">Back to the shop</a></p>\n");
}

struct Order {
  nlohmann::json lines;
  std::int64_t total;
};

std::mutex orders_mutex;  // handlers run on several workers at once
std::vector<Order> orders;

}  // namespace

int main(int argc, char** argv) {
  nuri::Server server;
  server.listen(argc > 1 ? argv[1] : "127.0.0.1:8080");
  server.static_files(argc > 2 ? argv[2] : "examples/shop/public");

  server.get("/api/catalog", [](const nuri::Request&, nuri::Response& res) {
    nlohmann::json items = nlohmann::json::array();
    for (const Item& item : kCatalog) items.push_back({{"id", item.id}, {"name", item.name}, {"price", item.price}});
    res.json(items);
  });

  server.get("/api/cart", [](const nuri::Request& req, nuri::Response& res) {
    res.json(cart_json(parse_cart(req.cookie("cart"))));
  });

  server.post("/api/cart", [](const nuri::Request& req, nuri::Response& res) {
    if (!is_urlencoded_form(req)) return refuse(res, 415, "send a form (application/x-www-form-urlencoded)");
    auto id = to_int(req.form("item").value_or(""));
    auto quantity = to_int(req.form("quantity").value_or(""));
    if (!id || !find_item(*id)) return refuse(res, 404, "no such item");
    if (!quantity || *quantity < 0 || *quantity > 99) return refuse(res, 422, "quantity must be a whole number 0..99");
    Cart cart = parse_cart(req.cookie("cart"));
    if (*quantity == 0) {
      cart.erase(*id);
    } else {
      cart[*id] = *quantity;
    }
    nuri::Cookie cookie;
    cookie.name = "cart";
    cookie.value = format_cart(cart);
    cookie.path = "/";
    cookie.http_only = true;
    cookie.same_site = nuri::Cookie::SameSite::strict;
    if (cart.empty()) cookie.max_age = 0;
    res.set_cookie(cookie).json(cart_json(cart));
  });

  server.post("/checkout", [](const nuri::Request& req, nuri::Response& res) {
    if (!is_urlencoded_form(req)) {
      return refuse(res, 415, "a checkout is a form (application/x-www-form-urlencoded)");
    }
    std::vector<std::string_view> items = req.form_all("item");
    std::vector<std::string_view> quantities = req.form_all("quantity");
    std::vector<std::string_view> prices = req.form_all("price");
    if (items.empty()) return refuse(res, 422, "the order is empty");
    if (quantities.size() != items.size() || prices.size() != items.size() || items.size() > kCatalog.size()) {
      return refuse(res, 422, "each item needs one quantity and one price");
    }
    std::int64_t total = 0;
    nlohmann::json lines = nlohmann::json::array();
    for (std::size_t i = 0; i < items.size(); ++i) {
      auto id = to_int(items[i]);
      const Item* item = id ? find_item(*id) : nullptr;
      if (!item) return refuse(res, 404, "no such item: " + std::string(items[i]));
      auto quantity = to_int(quantities[i]);
      if (!quantity || *quantity < 1 || *quantity > 99) {
        return refuse(res, 422, item->name + ": quantity must be a whole number 1..99, not \"" +
                                    std::string(quantities[i]) + "\"");
      }
      // The browser's price is only a claim: the catalog's is the price.
      auto claimed = to_int(prices[i]);
      if (!claimed || *claimed != item->price) {
        return refuse(res, 422, item->name + ": the price sent (" + std::string(prices[i]) +
                                    ") is not the price (" + std::to_string(item->price) + " won)");
      }
      total += item->price * *quantity;
      lines.push_back({{"id", item->id}, {"price", item->price}, {"quantity", *quantity}});
    }
    auto claimed_total = to_int(req.form("total").value_or(""));
    if (!claimed_total || *claimed_total != total) {
      return refuse(res, 422, "the total sent (" + std::string(req.form("total").value_or("")) +
                                  ") is not the total (" + std::to_string(total) + " won)");
    }
    std::size_t number;
    {
      std::lock_guard lock(orders_mutex);
      orders.push_back({lines, total});
      number = orders.size();
    }
    nuri::Cookie emptied;
    emptied.name = "cart";
    emptied.path = "/";
    emptied.max_age = 0;
    res.status(201)
        .header("Location", "/api/orders/" + std::to_string(number))
        .set_cookie(emptied)
        .html("<!doctype html><meta charset=\"utf-8\"><title>Order placed</title><h1>Order " +
              std::to_string(number) + " placed</h1><p>Charged <span id=\"charged\">" + std::to_string(total) +
              "</span> won.</p><p><a href=\"/\">Back to the shop</a></p>\n");
  });

  server.get("/api/orders/{id:int}", [](const nuri::Request& req, nuri::Response& res) {
    std::int64_t id = *req.int_param("id");
    std::lock_guard lock(orders_mutex);
    if (id < 1 || static_cast<std::size_t>(id) > orders.size()) {
      res.status(404).json({{"error", "no such order"}});
      return;
    }
    const Order& order = orders[static_cast<std::size_t>(id - 1)];
    res.json({{"id", id}, {"lines", order.lines}, {"charged", order.total}});
  });

  return server.run();
}
