# Installation (cmake --install), the CMake package for find_package(repux), the man page and the
# Debian packages (cpack -G DEB, or `make package`). Three components, as Debian splits them:
#   program -> repux           the `repux` command and its man page
#   dev     -> librepux-dev    the static library, public headers and CMake package
#   python  -> python3-repux   the PyTorch operator (torch.ops.repux.lk_dwconv) and its Python module
# Debian keeps libraries and CMake packages in the multiarch directory (lib/x86_64-linux-gnu).
if(CMAKE_LIBRARY_ARCHITECTURE AND NOT DEFINED CACHE{CMAKE_INSTALL_LIBDIR})
  set(CMAKE_INSTALL_LIBDIR lib/${CMAKE_LIBRARY_ARCHITECTURE} CACHE PATH "Object code libraries (lib/<multiarch> on Debian)")
endif()
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS repux_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT program)
install(TARGETS repux ${REPUX_LAYER_TARGETS} repux_allocator EXPORT repuxTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set_target_properties(repux_allocator PROPERTIES EXPORT_NAME allocator)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/repux DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

set(REPUX_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/repux)
install(EXPORT repuxTargets NAMESPACE repux:: DESTINATION ${REPUX_CMAKE_DIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/repuxConfig.cmake.in ${PROJECT_BINARY_DIR}/repuxConfig.cmake
                              INSTALL_DESTINATION ${REPUX_CMAKE_DIR})
# 0.x: a minor version may change the API, so only the same minor version is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/repuxConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/repuxConfig.cmake ${PROJECT_BINARY_DIR}/repuxConfigVersion.cmake
        DESTINATION ${REPUX_CMAKE_DIR} COMPONENT dev)

# The man page, written from the program's own help texts by help2man (Debian's help2man package).
find_program(HELP2MAN help2man)
if(HELP2MAN)
  set(REPUX_MAN_PAGE ${PROJECT_BINARY_DIR}/repux.1.gz)
  add_custom_command(OUTPUT ${REPUX_MAN_PAGE}
                     COMMAND ${PROJECT_SOURCE_DIR}/scripts/make-man-page.sh $<TARGET_FILE:repux_cli> ${REPUX_MAN_PAGE}
                     DEPENDS repux_cli ${PROJECT_SOURCE_DIR}/scripts/make-man-page.sh
                     COMMENT "Writing the man page repux.1 with help2man")
  add_custom_target(repux_man_page ALL DEPENDS ${REPUX_MAN_PAGE})
  install(FILES ${REPUX_MAN_PAGE} DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT program)
else()
  message(STATUS "help2man not found: no man page (install Debian's help2man)")
endif()

# Bash completion, written by the program from its own command-line definition.
set(REPUX_COMPLETION ${PROJECT_BINARY_DIR}/repux.bash-completion)
add_custom_command(OUTPUT ${REPUX_COMPLETION}
                   COMMAND $<TARGET_FILE:repux_cli> completion > ${REPUX_COMPLETION}.tmp
                   COMMAND ${CMAKE_COMMAND} -E rename ${REPUX_COMPLETION}.tmp ${REPUX_COMPLETION}
                   DEPENDS repux_cli
                   COMMENT "Writing the bash completion of repux")
add_custom_target(repux_bash_completion ALL DEPENDS ${REPUX_COMPLETION})
install(FILES ${REPUX_COMPLETION} DESTINATION ${CMAKE_INSTALL_DATADIR}/bash-completion/completions RENAME repux COMPONENT program)

# Debian packages. Runtime dependencies of the program come from dpkg-shlibdeps (the libraries it
# really links); the -dev package names the development packages its CMake package needs.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME repux)
set(CPACK_PACKAGE_VENDOR "repux")
set(CPACK_PACKAGE_CONTACT "repux developers <repux@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "RepUX-Net 3D medical image segmentation in C++")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL program dev)
if(REPUX_TORCH_EXTENSION)
  list(APPEND CPACK_COMPONENTS_ALL python)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_ENABLE_COMPONENT_DEPENDS ON)
set(CPACK_DEBIAN_PROGRAM_PACKAGE_NAME repux)
set(CPACK_DEBIAN_PROGRAM_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PROGRAM_DESCRIPTION "RepUX-Net 3D medical image segmentation: the repux command
 Train, predict, evaluate and import RepUX-Net / 3D UX-Net models on NIfTI volumes, on the CPU or a GPU.")
set(CPACK_DEBIAN_DEV_PACKAGE_NAME librepux-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_DESCRIPTION "RepUX-Net 3D medical image segmentation: C++ library and CMake package
 Static libraries (one per layer), public headers and find_package(repux) files (targets repux::repux,
 repux::io, repux::nn, ... one per layer).")
set(REPUX_DEV_DEPENDS "libtorch-dev, libfmt-dev, nlohmann-json3-dev, libnifti2-dev, zlib1g-dev, libpng-dev, libgoogle-perftools-dev")
if(REPUX_DICOM)
  string(APPEND REPUX_DEV_DEPENDS ", libdcmtk-dev, libcurl4-openssl-dev")
endif()
if(PLPLOT_LIBRARY AND PLPLOT_INCLUDE_DIR)
  string(APPEND REPUX_DEV_DEPENDS ", libplplot-dev")
endif()
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${REPUX_DEV_DEPENDS}")
set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-repux)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "python3-torch")
set(CPACK_DEBIAN_PYTHON_DESCRIPTION "RepUX-Net's FFT large-kernel depthwise convolution for PyTorch
 torch.ops.repux.lk_dwconv with autograd and repux_torch.LargeKernelConv3d, a drop-in nn.Conv3d.")
include(CPack)
cpack_add_component(program DISPLAY_NAME "repux program")
cpack_add_component(dev DISPLAY_NAME "repux library" DEPENDS program)
cpack_add_component(python DISPLAY_NAME "repux PyTorch operator")
