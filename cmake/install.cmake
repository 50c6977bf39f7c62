# cmake --install: the servers in sbin (they run as daemons), the tools in
# bin, the manual pages, the systemd units with the sysusers.d entry for
# their group, and the example configuration in SYSCONFDIR/batchproxy
# (/etc/batchproxy with the prefix /usr; make deb packages exactly this).
include(GNUInstallDirs)

install(TARGETS batchproxy classifyd RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR})
install(TARGETS loadgen schedsim RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

foreach(page batchproxy.8 classifyd.8 loadgen.1 schedsim.1 batchproxy-clients.5)
  string(REGEX REPLACE ".*\\." "" section ${page})
  install(FILES ${CMAKE_SOURCE_DIR}/man/${page} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
endforeach()

# Where systemd looks for units and sysusers.d files: what systemd.pc says
# (/lib/systemd/system on Debian 12), else under the prefix.
pkg_get_variable(BP_PC_UNITDIR systemd systemdsystemunitdir)
pkg_get_variable(BP_PC_SYSUSERSDIR systemd sysusersdir)
if(NOT BP_PC_UNITDIR)
  set(BP_PC_UNITDIR ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
if(NOT BP_PC_SYSUSERSDIR)
  set(BP_PC_SYSUSERSDIR ${CMAKE_INSTALL_PREFIX}/lib/sysusers.d)
endif()
set(BP_SYSTEMD_UNITDIR ${BP_PC_UNITDIR} CACHE PATH "where the systemd units are installed")
set(BP_SYSUSERSDIR ${BP_PC_SYSUSERSDIR} CACHE PATH "where the sysusers.d entry is installed")

# The units and batchproxy.conf name the installed programs and files.
set(BP_SBINDIR ${CMAKE_INSTALL_FULL_SBINDIR})
set(BP_CONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR}/batchproxy)
foreach(unit batchproxy.service classifyd.service)
  configure_file(${CMAKE_SOURCE_DIR}/deploy/systemd/${unit}.in ${CMAKE_BINARY_DIR}/deploy/${unit}
                 @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/deploy/${unit} DESTINATION ${BP_SYSTEMD_UNITDIR})
endforeach()
install(FILES ${CMAKE_SOURCE_DIR}/deploy/systemd/batchproxy.sysusers DESTINATION ${BP_SYSUSERSDIR}
        RENAME batchproxy.conf)
configure_file(${CMAKE_SOURCE_DIR}/deploy/etc/batchproxy.conf.in
               ${CMAKE_BINARY_DIR}/deploy/batchproxy.conf @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/deploy/batchproxy.conf ${CMAKE_SOURCE_DIR}/deploy/etc/classifyd.conf
              ${CMAKE_SOURCE_DIR}/deploy/etc/backends ${CMAKE_SOURCE_DIR}/deploy/etc/clients.example
        DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/batchproxy)
