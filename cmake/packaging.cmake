# Install rules beyond the binary (controller/CMakeLists.txt installs it to
# sbin) and the Debian package:
#   cmake --install build [--prefix DIR]       binary, man page, kit scripts, README and docs/
#   (cd build && cpack -G DEB)                 gpreempt-bpf_VERSION_amd64.deb
# tests/scripts/test_package.py builds both from an existing build and checks them.
include(GNUInstallDirs)

# `make install` and cpack install what is built; they do not build "all"
# first (the test binaries are not packaged, and building them takes minutes).
# Build first: cmake --build build --target gpreempt-bpf gp_manpage
set(CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)

# gpreempt-bpf(8), from the binary's own --help (scripts/gen-manpage.sh).
find_program(GP_HELP2MAN help2man)
if(GP_HELP2MAN)
  set(GP_MANPAGE ${PROJECT_BINARY_DIR}/gpreempt-bpf.8.gz)
  add_custom_command(
    OUTPUT ${GP_MANPAGE}
    COMMAND ${PROJECT_SOURCE_DIR}/scripts/gen-manpage.sh $<TARGET_FILE:gpreempt-bpf> ${PROJECT_VERSION}
            ${PROJECT_BINARY_DIR}/gpreempt-bpf.8
    # Debian ships man pages gzipped, reproducibly (-n: no name or time stamp).
    COMMAND gzip -n -9 -f ${PROJECT_BINARY_DIR}/gpreempt-bpf.8
    DEPENDS gpreempt-bpf ${PROJECT_SOURCE_DIR}/scripts/gen-manpage.sh
    COMMENT "Generating the gpreempt-bpf(8) man page from --help"
    VERBATIM)
  add_custom_target(gp_manpage ALL DEPENDS ${GP_MANPAGE})
  install(FILES ${GP_MANPAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
else()
  message(WARNING "help2man not found: no man page is built or installed (apt-get install help2man)")
endif()

# The hardware validation kit and the colocation experiment, with their helpers.
set(GP_SHARE ${CMAKE_INSTALL_DATADIR}/gpreempt-bpf)
install(PROGRAMS scripts/hw-validate.sh scripts/colocate.sh DESTINATION ${GP_SHARE})
install(PROGRAMS scripts/colocate/online_infer.py scripts/colocate/offline_train.py
                 scripts/colocate/colocate_report.py
        DESTINATION ${GP_SHARE}/colocate)
install(FILES scripts/hw-validate/busy.hip DESTINATION ${GP_SHARE}/hw-validate)
# Without Kubernetes: the agent's and read-only mode's systemd units (installed, not
# enabled) and the example policy the agent's unit expects in /etc/gpreempt-bpf/
# (docs/deploy.md). The prefix /usr puts the units in /usr/lib/systemd/system.
install(FILES deploy/systemd/gpreempt-bpf-agent.service deploy/systemd/gpreempt-bpf-metrics.service
        DESTINATION lib/systemd/system)
install(FILES deploy/policy.yaml DESTINATION ${GP_SHARE})
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR})
# The documents README.md links to, in the same places so the links between
# them still resolve: docs/*.md, and the trace file format that docs/ links.
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR}/docs FILES_MATCHING PATTERN "*.md")
install(FILES trace/README.md DESTINATION ${CMAKE_INSTALL_DOCDIR}/trace)

# Debian package. Dependencies by Debian package name: exactly the packages
# that ship the shared libraries the binary is linked against (objdump -p
# NEEDED: libbpf.so.1, libfmt.so.9, libcivetweb.so.1, libyaml-cpp.so.0.7, libstdc++.so.6, libgcc_s.so.1, libc.so.6;
# libelf and zlib come in through libbpf1). test_package.py re-derives this
# from the binary with dpkg -S and fails if the list falls behind.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME gpreempt-bpf)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "gpreempt-bpf maintainers <gpreempt-bpf@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "eBPF tracing and preemption controller for AMD GPU queues (KFD)")
set(CPACK_PACKAGE_DESCRIPTION
    "Traces every AMD GPU queue of the KFD driver (create, update, evict, suspend, destroy) with CO-RE kprobes, keeps an exact per-process queue map, suspends and resumes an offline job's queues for an online one through the KFD debug-trap ioctl, measures each in-kernel CWSR preemption, and records lifecycle traces. Includes the hardware validation kit and the online/offline colocation experiment (in /usr/share/gpreempt-bpf).")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libbpf1 (>= 1:1.1), libfmt9, libcivetweb1, libyaml-cpp0.7, libstdc++6, libgcc-s1, libc6")
# colocate.sh and its report are Python; hw-validate.sh needs only sh and tar.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "python3")
set(CPACK_STRIP_FILES ON)
include(CPack)
