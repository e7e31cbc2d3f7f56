# `make deb` (cpack -G DEB in a Release build): what the Debian package installs, and its control
# data. docs/packaging.md explains each piece. install() rules use absolute Debian paths, so the
# package is the one consumer of `cmake --install`.
include(GNUInstallDirs)

set(NURI_DIST ${CMAKE_SOURCE_DIR}/dist)

install(TARGETS nuri RUNTIME DESTINATION /usr/bin)
install(FILES ${NURI_DIST}/debian/nuri.toml DESTINATION /etc/nuri)
install(FILES ${NURI_DIST}/logrotate/nuri DESTINATION /etc/logrotate.d)
# The default page: postinst copies it to /var/www/nuri on first install (lintian:
# dir-or-file-in-var-www); postrm removes that copy on purge if it still has this checksum.
install(FILES ${NURI_DIST}/debian/index.html DESTINATION /usr/share/nuri/www)
file(SHA256 ${NURI_DIST}/debian/index.html NURI_INDEX_SHA256)
configure_file(${NURI_DIST}/debian/postrm.in ${CMAKE_BINARY_DIR}/debian/postrm @ONLY
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
install(FILES ${NURI_DIST}/debian/lintian-overrides DESTINATION /usr/share/lintian/overrides RENAME nuri)
# Debian 12's systemd looks in /lib/systemd/system (merged /usr makes it /usr/lib too).
install(FILES ${NURI_DIST}/systemd/nuri.service ${NURI_DIST}/systemd/nuri.socket
        DESTINATION /lib/systemd/system)
install(FILES ${NURI_DIST}/completion/nuri.bash DESTINATION /usr/share/bash-completion/completions
        RENAME nuri)
install(FILES ${NURI_DIST}/completion/_nuri DESTINATION /usr/share/zsh/vendor-completions)
install(FILES ${NURI_DIST}/debian/copyright README.md docs/configuration.md docs/packaging.md
        DESTINATION /usr/share/doc/nuri)

# Man pages and the Debian changelog, gzip'd (-n: no name or time stamp, so builds are identical).
file(GLOB NURI_MAN_PAGES CONFIGURE_DEPENDS ${NURI_DIST}/man/*.1 ${NURI_DIST}/man/*.5)
set(NURI_GZIPPED)
foreach(page ${NURI_MAN_PAGES} ${NURI_DIST}/debian/changelog)
  get_filename_component(name ${page} NAME)
  if(name STREQUAL "changelog")
    set(name changelog.Debian)
  endif()
  set(out ${CMAKE_BINARY_DIR}/gz/${name}.gz)
  add_custom_command(OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/gz
    COMMAND gzip -9n -c ${page} > ${out}
    DEPENDS ${page} VERBATIM)
  list(APPEND NURI_GZIPPED ${out})
  if(name MATCHES "\\.([15])$")
    install(FILES ${out} DESTINATION /usr/share/man/man${CMAKE_MATCH_1})
  else()
    install(FILES ${out} DESTINATION /usr/share/doc/nuri)
  endif()
endforeach()
add_custom_target(nuri_gzipped ALL DEPENDS ${NURI_GZIPPED})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME nuri)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "nuri maintainers <nuri@example.org>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "web server and network toolkit")
# CPack indents each line by one space and writes an empty line as " .".
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION "nuri is one binary: an HTTP/1.1 static web server with virtual hosts, access
rules, Basic authentication and a status page (nuri serve), a TCP and UDP port
forwarder (nuri forward), and tools that explain the network: sockets
(nuri conns), packets (nuri capture), DNS (nuri resolve) and HTTP (nuri get).

This package runs nuri serve as the systemd service nuri.service (not started
at install), serving /var/www/nuri on 127.0.0.1:80 as the system user nuri.")
set(CPACK_PACKAGE_DIRECTORY ${CMAKE_BINARY_DIR}/deb)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)   # nuri_VERSION-RELEASE_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://example.invalid/nuri")
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)    # libc-ares2, libpcap0.8, libfmt9... from dpkg-shlibdeps
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "logrotate")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${NURI_DIST}/debian/conffiles ${NURI_DIST}/debian/postinst ${NURI_DIST}/debian/prerm
    ${CMAKE_BINARY_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)
# Directories get 0755 whatever the umask of the build.
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
    OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
include(CPack)
