// LD_PRELOAD for scripts/valgrind.sh only: valgrind 3.19 (Debian 12) does not know openat2
// (Linux 5.6) and fails it with ENOSYS, so under memcheck nuri could open no file and the
// static-file paths would go untested. This replaces libc's syscall() for SYS_openat2 with
// openat(), refusing absolute paths and ".." as RESOLVE_BENEATH would; symlinks that leave the
// root are NOT refused, so confinement is tested elsewhere (test_traversal.py, natively), never
// with this library loaded. Every other system call goes to libc's syscall() unchanged.
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>

static int leaves_the_directory(const char* path) {
  if (path[0] == '/') return 1;
  for (const char* p = path; *p;) {
    const char* end = strchrnul(p, '/');
    if (end - p == 2 && p[0] == '.' && p[1] == '.') return 1;
    p = *end ? end + 1 : end;
  }
  return 0;
}

long syscall(long number, ...) {
  va_list ap;
  va_start(ap, number);
  // Six arguments, as the kernel takes them: what glibc's syscall() passes on too.
  long a[6];
  for (int i = 0; i < 6; ++i) a[i] = va_arg(ap, long);
  va_end(ap);
  if (number == SYS_openat2) {
    const char* path = (const char*)a[1];
    const struct open_how* how = (const struct open_how*)a[2];
    if ((how->resolve & RESOLVE_BENEATH) && leaves_the_directory(path)) {
      errno = EXDEV;
      return -1;
    }
    return openat((int)a[0], path, (int)how->flags, (mode_t)how->mode);
  }
  static long (*real)(long, ...);
  if (!real) real = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
  return real(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}
