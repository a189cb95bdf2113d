# NiiVue (@niivue/niivue from the npm registry, BSD-2-Clause), the WebGL2 viewer that `repux view` and
# the HTML reports' viewer pages embed. Pinned: the registry's tarball of this version, checked against
# its sha512 (the registry's "integrity"), downloaded once at configure time into the build tree (or
# taken from REPUX_NIIVUE_TARBALL, for a machine without the registry) and installed with the program,
# so that pages work offline, from file://. Only its self-contained UMD bundle is used.
set(REPUX_NIIVUE_VERSION 0.69.0)
set(REPUX_NIIVUE_SHA512 60c8d0bc9803d56d9bec3ba8c64c250b85716eb80878f449e6ac90cd72b18b6bf6301560dbce4ffc2210ca0e3aa030c60c871a3656ddf8c86d3bf79d31b5c990)
set(REPUX_NIIVUE_URL https://registry.npmjs.org/@niivue/niivue/-/niivue-${REPUX_NIIVUE_VERSION}.tgz)
set(REPUX_NIIVUE_TARBALL "" CACHE FILEPATH "A local copy of niivue-${REPUX_NIIVUE_VERSION}.tgz (default: downloaded from the npm registry)")
set(REPUX_NIIVUE_DIR ${PROJECT_BINARY_DIR}/share/repux/niivue)
set(REPUX_NIIVUE_BUNDLE ${REPUX_NIIVUE_DIR}/niivue.umd.js)

if(NOT EXISTS ${REPUX_NIIVUE_BUNDLE})
  set(tarball ${PROJECT_BINARY_DIR}/downloads/niivue-${REPUX_NIIVUE_VERSION}.tgz)
  if(REPUX_NIIVUE_TARBALL)
    file(SHA512 ${REPUX_NIIVUE_TARBALL} given)
    if(NOT given STREQUAL REPUX_NIIVUE_SHA512)
      message(FATAL_ERROR "${REPUX_NIIVUE_TARBALL}: sha512 ${given}, expected ${REPUX_NIIVUE_SHA512} (niivue ${REPUX_NIIVUE_VERSION})")
    endif()
    set(tarball ${REPUX_NIIVUE_TARBALL})
  elseif(NOT EXISTS ${tarball})
    message(STATUS "NiiVue ${REPUX_NIIVUE_VERSION}: downloading ${REPUX_NIIVUE_URL}")
    foreach(attempt 1 2 3)  # a transient network error is retried
      file(DOWNLOAD ${REPUX_NIIVUE_URL} ${tarball}.part EXPECTED_HASH SHA512=${REPUX_NIIVUE_SHA512} TLS_VERIFY ON TIMEOUT 120 STATUS status)
      list(GET status 0 code)
      if(code EQUAL 0)
        break()
      endif()
      message(STATUS "NiiVue ${REPUX_NIIVUE_VERSION}: attempt ${attempt} failed: ${status}")
    endforeach()
    if(NOT code EQUAL 0)
      file(REMOVE ${tarball}.part)
      message(FATAL_ERROR "NiiVue ${REPUX_NIIVUE_VERSION}: cannot download ${REPUX_NIIVUE_URL} (${status}); "
                          "give a local copy with -DREPUX_NIIVUE_TARBALL=FILE")
    endif()
    file(RENAME ${tarball}.part ${tarball})
  endif()
  set(unpacked ${PROJECT_BINARY_DIR}/downloads/niivue-${REPUX_NIIVUE_VERSION})
  file(ARCHIVE_EXTRACT INPUT ${tarball} DESTINATION ${unpacked} PATTERNS package/dist/niivue.umd.js package/package.json)
  file(MAKE_DIRECTORY ${REPUX_NIIVUE_DIR})
  file(COPY_FILE ${unpacked}/package/package.json ${REPUX_NIIVUE_DIR}/package.json)
  file(COPY_FILE ${unpacked}/package/dist/niivue.umd.js ${REPUX_NIIVUE_BUNDLE})  # last: its presence means done
endif()
message(STATUS "NiiVue ${REPUX_NIIVUE_VERSION}: ${REPUX_NIIVUE_BUNDLE}")
install(FILES ${REPUX_NIIVUE_BUNDLE} ${REPUX_NIIVUE_DIR}/package.json DESTINATION ${CMAKE_INSTALL_DATADIR}/repux/niivue COMPONENT program)
