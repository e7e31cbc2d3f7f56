#include "net/reuseport_balance.h"

#include <linux/bpf.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.h"

namespace nuri::net {
namespace {

long bpf(int command, bpf_attr& attr) { return ::syscall(SYS_bpf, command, &attr, sizeof attr); }

bpf_insn insn(std::uint8_t code, std::uint8_t dst, std::uint8_t src, std::int16_t off, std::int32_t imm) {
  bpf_insn i{};
  i.code = code;
  i.dst_reg = dst & 0xf;
  i.src_reg = src & 0xf;
  i.off = off;
  i.imm = imm;
  return i;
}

}  // namespace

bool balance_round_robin(int listen_fd, unsigned sockets, std::string& why) {
  bpf_attr map{};
  map.map_type = BPF_MAP_TYPE_ARRAY;
  map.key_size = 4;
  map.value_size = 4;
  map.max_entries = 1;
  FileDescriptor counter(static_cast<int>(bpf(BPF_MAP_CREATE, map)));
  if (!counter) {
    why = std::string("bpf map: ") + std::strerror(errno);
    return false;
  }
  // The program runs for each packet that looks for a listener: the SYN of each new connection
  // (and, with SYN cookies, its last ACK too). Its result is the index of the socket (in the
  // order they started listening) that gets the connection; an index past the group's size
  // (no counter) falls back to the kernel's hash.
  const bpf_insn program[] = {
      insn(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0),           // key = 0 on the stack
      insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_2, BPF_REG_10, 0, 0),  // r2 = &key
      insn(BPF_ALU64 | BPF_ADD | BPF_K, BPF_REG_2, 0, 0, -4),
      insn(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, counter.get()),  // r1 = map
      insn(0, 0, 0, 0, 0),
      insn(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem),  // r0 = &counter
      insn(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 5, 0),            // none: to the hash
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_1, 0, 0, 1),
      insn(BPF_STX | BPF_ATOMIC | BPF_W, BPF_REG_0, BPF_REG_1, 0, BPF_ADD | BPF_FETCH),  // r1 = counter++
      insn(BPF_ALU | BPF_MOD | BPF_K, BPF_REG_1, 0, 0, static_cast<std::int32_t>(sockets)),
      insn(BPF_ALU64 | BPF_MOV | BPF_X, BPF_REG_0, BPF_REG_1, 0, 0),
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
      insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, -1),
      insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
  };
  static const char license[] = "Proprietary";
  bpf_attr load{};
  load.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  load.insn_cnt = sizeof program / sizeof program[0];
  load.insns = reinterpret_cast<std::uint64_t>(program);
  load.license = reinterpret_cast<std::uint64_t>(license);
  FileDescriptor prog(static_cast<int>(bpf(BPF_PROG_LOAD, load)));
  if (!prog) {
    why = std::string("bpf program: ") + std::strerror(errno);
    return false;
  }
  int fd = prog.get();
  if (::setsockopt(listen_fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &fd, sizeof fd) != 0) {
    why = std::string("SO_ATTACH_REUSEPORT_EBPF: ") + std::strerror(errno);
    return false;
  }
  return true;  // the group holds the program, the program its map: both descriptors may go
}

bool balance_listener(int listen_fd, unsigned sockets, std::string_view label) {
  std::string why;
  if (balance_round_robin(listen_fd, sockets, why)) return true;
  if (::geteuid() == 0) base::log_info("{}: new connections go to the workers by the kernel's hash ({})", label, why);
  return false;
}

}  // namespace nuri::net
