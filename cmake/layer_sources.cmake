# The sources of one layer of the library: src/<layer>/*.cpp (the core layer: src/*.cpp), without
# the DICOM files when REPUX_DICOM is off. Shared by the main build (cmake/layers.cmake), its
# AddressSanitizer tests and the fuzzers (fuzz/CMakeLists.txt), which compile whole layers again
# under sanitizers. REPUX_SOURCE_ROOT: the repository (default: this project's source directory).
function(repux_layer_sources layer out)
  if(NOT REPUX_SOURCE_ROOT)
    set(REPUX_SOURCE_ROOT ${PROJECT_SOURCE_DIR})
  endif()
  if(layer STREQUAL "core")
    file(GLOB sources CONFIGURE_DEPENDS ${REPUX_SOURCE_ROOT}/src/*.cpp)
  else()
    file(GLOB sources CONFIGURE_DEPENDS ${REPUX_SOURCE_ROOT}/src/${layer}/*.cpp)
  endif()
  if(DEFINED REPUX_DICOM AND NOT REPUX_DICOM)
    list(FILTER sources EXCLUDE REGEX "/src/io/dicom_")
  endif()
  set(${out} ${sources} PARENT_SCOPE)
endfunction()
