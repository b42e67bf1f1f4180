# File: packaging/packaging.cmake
# The Debian packages, made by CPack's DEB generator; included at the end of the root CMakeLists.txt.
#   starbus      starbus-broker and starbus, the systemd unit starbus-broker@.service, the default
#                /etc/starbus/cluster.toml (a conffile), the system user `starbus` and /var/lib/starbus
#                (sysusers.d and tmpfiles.d files, applied by the postinst), the operator's docs
#   starbus-dev  the static libraries, the headers and the CMake package (find_package(starbus))
# Build both in any build directory (a Release one: cpack builds what is out of date first):
#   cpack -G DEB --config BUILD/CPackConfig.cmake -B OUTDIR      (or: cmake --build BUILD --target package)
# tests/package/deb_test.sh installs them into a fresh root and starts a broker from it; docs/deploy.md
# says how to use them.
#
# The split follows the install components: `runtime` (named on the programs' install rule) and `dev`
# (CMAKE_INSTALL_DEFAULT_COMPONENT_NAME: every other rule). The files below exist only for the package:
# EXCLUDE_FROM_ALL keeps them out of a plain `cmake --install BUILD --prefix DIR`, which never writes
# to /etc; cpack installs component by component, and so includes them.
include_guard(GLOBAL)

set(STARBUS_SYSTEMD_UNIT_DIR /lib/systemd/system
    CACHE PATH "where the starbus package puts starbus-broker@.service (Debian 12: /lib/systemd/system)")
set(STARBUS_PACKAGE_MAINTAINER "starbus maintainers <maintainers@starbus.invalid>"
    CACHE STRING "the Maintainer field of the Debian packages")

set(starbus_pkg ${PROJECT_SOURCE_DIR}/packaging)
install(FILES ${starbus_pkg}/starbus-broker@.service DESTINATION ${STARBUS_SYSTEMD_UNIT_DIR}
        COMPONENT runtime EXCLUDE_FROM_ALL)
install(FILES ${starbus_pkg}/cluster.toml DESTINATION /etc/starbus COMPONENT runtime EXCLUDE_FROM_ALL)
install(FILES ${starbus_pkg}/sysusers.conf DESTINATION /usr/lib/sysusers.d RENAME starbus.conf
        COMPONENT runtime EXCLUDE_FROM_ALL)
install(FILES ${starbus_pkg}/tmpfiles.conf DESTINATION /usr/lib/tmpfiles.d RENAME starbus.conf
        COMPONENT runtime EXCLUDE_FROM_ALL)
install(FILES ${starbus_pkg}/copyright ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/deploy.md
              ${PROJECT_SOURCE_DIR}/docs/security.md
        DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/starbus COMPONENT runtime EXCLUDE_FROM_ALL)
install(FILES ${starbus_pkg}/copyright DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/starbus-dev
        COMPONENT dev EXCLUDE_FROM_ALL)

# An install rule outside both components would silently be in neither package.
get_cmake_property(starbus_components COMPONENTS)
list(REMOVE_ITEM starbus_components runtime dev)
if(starbus_components)
  message(FATAL_ERROR "install component(s) ${starbus_components} belong to no Debian package: give the install "
                      "rule COMPONENT runtime (package starbus) or dev (starbus-dev), or put it after "
                      "CMAKE_INSTALL_DEFAULT_COMPONENT_NAME is set in the root CMakeLists.txt "
                      "(packaging/packaging.cmake)")
endif()

set(CPACK_PACKAGE_NAME starbus)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "the starbus authors")
set(CPACK_PACKAGE_CONTACT "${STARBUS_PACKAGE_MAINTAINER}")
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL runtime dev)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # NAME_VERSION-RELEASE_ARCH.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Maintainer scripts 0755, conffiles 0644, whatever the source tree's modes.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(starbus_deb_version "${CPACK_PACKAGE_VERSION}-${CPACK_DEBIAN_PACKAGE_RELEASE}")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME starbus)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
# The first line of a description is the package's summary (CPACK_PACKAGE_DESCRIPTION_SUMMARY stays unset, or
# CPack would put its own first).
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
    "high-availability message bus for ZeroMQ: broker and tool
A starbus cluster is a chain of ranked brokers: one serves, the others replicate
its state (a key/value store, files, a lossless bus) and take over in rank order.
This package holds the broker, starbus-broker (one per machine, as the systemd
service starbus-broker@NAME), and the command-line tool, starbus.")
# The shared libraries the programs link, with their versions, from dpkg-shlibdeps (dpkg-dev). passwd:
# the postinst's useradd, where systemd-sysusers is missing.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
find_program(STARBUS_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(STARBUS_DPKG_SHLIBDEPS)
if(NOT STARBUS_DPKG_SHLIBDEPS)
  message(WARNING "dpkg-shlibdeps not found (package dpkg-dev): a starbus package built here would list none of "
                  "the shared libraries its programs need")
endif()
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "passwd")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${starbus_pkg}/debian/postinst ${starbus_pkg}/debian/prerm ${starbus_pkg}/debian/postrm
    ${starbus_pkg}/debian/conffiles)

set(CPACK_DEBIAN_DEV_PACKAGE_NAME starbus-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION
    "high-availability message bus for ZeroMQ: development files
The starbus client library and the shared parts (wire codec, cluster file,
replicated state, CURVE keys) as static libraries, their headers and the CMake
package: find_package(starbus), targets starbus::client and starbus::common.")
# What starbusConfig.cmake's find_dependency() calls and the exported link interface need.
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
    "starbus (= ${starbus_deb_version}), libzmq3-dev, cppzmq-dev, libmsgpack-cxx-dev, libtomlplusplus-dev, libssl-dev")

include(CPack)

