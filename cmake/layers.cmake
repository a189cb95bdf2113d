# The library, one static library per layer (as SimpleITK's Code/*/CMakeLists.txt build one per
# module): repux_core, repux_io, ... Each links the layers it may use, PUBLIC, in layer order, so a
# program that links a layer gets exactly what it needs. REPUX_LAYERS is the one table of which layer
# may use which: CMake builds the targets from it and tools/check_layers.py (run by the build and by
# ctest) refuses an #include of a higher layer's header, or of another layer's private header
# (src/<layer>/*.h), naming the file and line. docs/architecture.md draws the layers.
#
# Each entry is "layer:the layers below it that it uses directly" (transitively, all of theirs too).
set(REPUX_LAYERS
    "core:"              # error, enum names, threads, allocator, build information (src/*.cpp)
    "io:core"            # volumes, NIfTI, DICOM, NumPy, safetensors, checkpoints, JSON, PNG
    "ops:core"           # the large-kernel depthwise convolution operator
    "nn:io,ops"          # network building blocks and the network families
    "dist:nn"            # the process group and synchronized BatchNorm for data-parallel training
    "data:io"            # datasets, preprocessing, sampling, synthetic data
    "eval:data,nn"       # metrics, folder evaluation, the HTML report, the effective receptive field
    "model:data,nn"      # the Plan, its inference and post-processing settings, model files, the planner
    "infer:model,eval"   # sliding window, post-processing, predict
    "train:infer,dist"   # the trainer, losses, validation, checkpoints, run logs
    "experiment:train"   # the ablation study
    "net:io")            # the DICOM node (C-STORE / C-MOVE peers, the spool), the DICOMweb client
if(NOT REPUX_DICOM)
  list(REMOVE_ITEM REPUX_LAYERS "net:io")
endif()

include(${CMAKE_CURRENT_LIST_DIR}/layer_sources.cmake)
find_package(Python3 REQUIRED COMPONENTS Interpreter)

# Sources whose includes never reach LibTorch build without its precompiled header, which costs a unit
# 4-6 s on two cores to load (tools/torch_free_sources.py says which and why).
function(repux_skip_pch_where_torch_free)
  execute_process(COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/torch_free_sources.py --root ${PROJECT_SOURCE_DIR} ${ARGN}
                  OUTPUT_VARIABLE torch_free RESULT_VARIABLE failed)
  if(failed)
    message(FATAL_ERROR "tools/torch_free_sources.py failed")
  endif()
  set_source_files_properties(${torch_free} DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTIES SKIP_PRECOMPILE_HEADERS ON SKIP_UNITY_BUILD_INCLUSION ON)
endfunction()

set(REPUX_LAYER_TARGETS)
foreach(entry ${REPUX_LAYERS})
  string(REPLACE ":" ";" parts "${entry}")
  list(GET parts 0 layer)
  list(LENGTH parts n)
  set(below)
  if(n GREATER 1)
    list(GET parts 1 below)
    string(REPLACE "," ";" below "${below}")
    list(TRANSFORM below PREPEND repux_)
  endif()
  repux_layer_sources(${layer} sources)
  repux_skip_pch_where_torch_free(${sources})
  add_library(repux_${layer} STATIC ${sources})
  set_target_properties(repux_${layer} PROPERTIES EXPORT_NAME ${layer})
  add_library(repux::${layer} ALIAS repux_${layer})
  target_link_libraries(repux_${layer} PUBLIC ${below})
  target_compile_options(repux_${layer} PRIVATE -Wall -Wextra)
  # LibTorch's at::parallel_for is an OpenMP pragma in its headers: without -fopenmp our own parallel
  # loops (the Winograd convolution's) would silently run on one thread.
  target_link_libraries(repux_${layer} PRIVATE OpenMP::OpenMP_CXX)
  if(NOT layer STREQUAL "core")
    target_precompile_headers(repux_${layer} REUSE_FROM repux_core)
  endif()
  list(APPEND REPUX_LAYER_TARGETS repux_${layer})
endforeach()

target_include_directories(repux_core PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include> $<INSTALL_INTERFACE:include>)
target_link_libraries(repux_core PUBLIC ${REPUX_STDCXX_FIRST} ${TORCH_LIBRARIES} ${REPUX_FMT} nlohmann_json::nlohmann_json
                      PRIVATE ${CMAKE_DL_LIBS})
# Each LibTorch translation unit costs 20-30 s on two cores without this, and building the header
# itself 50 s: it is built once, here, and every layer, program and test of this tree reuses it
# (repux_use_pch). PRIVATE, so not imposed on projects that use the installed library.
target_precompile_headers(repux_core PRIVATE <torch/torch.h>)

target_include_directories(repux_io PRIVATE ${NIFTI_INCLUDE_DIR})
target_link_libraries(repux_io PRIVATE ${NIFTI2_LIBRARY} ${ZNZ_LIBRARY} ZLIB::ZLIB PNG::PNG)
if(REPUX_DICOM)
  target_link_libraries(repux_io PRIVATE DCMTK::dcmrt DCMTK::dcmseg DCMTK::dcmfg DCMTK::dcmiod DCMTK::dcmjpls DCMTK::dcmjpeg DCMTK::dcmdata)
  target_link_libraries(repux_net PRIVATE DCMTK::dcmtls DCMTK::dcmnet DCMTK::dcmdata CURL::libcurl)
  # On the files that ask, not the whole target: a definition the precompiled header was built with
  # must be present wherever it is reused.
  set_property(SOURCE src/io/volume_file.cpp src/build_info.cpp APPEND PROPERTY COMPILE_DEFINITIONS REPUX_HAVE_DICOM=1)
endif()
if(PLPLOT_LIBRARY AND PLPLOT_INCLUDE_DIR)
  # The training curves (train) and the previews' text (eval).
  target_include_directories(repux_train PRIVATE ${PLPLOT_INCLUDE_DIR})
  target_link_libraries(repux_train PRIVATE ${PLPLOT_LIBRARY})
  target_include_directories(repux_eval PRIVATE ${PLPLOT_INCLUDE_DIR})
  target_link_libraries(repux_eval PRIVATE ${PLPLOT_LIBRARY})
  set_property(SOURCE src/train/plot.cpp src/eval/canvas.cpp src/build_info.cpp APPEND PROPERTY COMPILE_DEFINITIONS REPUX_HAVE_PLPLOT=1)
endif()

# repux::repux: every layer, for programs that want the whole library.
# Highest first, so that the linker meets each static library before the ones it uses.
set(REPUX_LAYERS_TOP_DOWN ${REPUX_LAYER_TARGETS})
list(REVERSE REPUX_LAYERS_TOP_DOWN)
add_library(repux INTERFACE)
target_link_libraries(repux INTERFACE ${REPUX_LAYERS_TOP_DOWN})

# The layering check, part of every build: an upward include fails it (tools/check_layers.py).
set(REPUX_LAYER_CHECK ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/tools/check_layers.py --root ${PROJECT_SOURCE_DIR} ${REPUX_LAYERS})
file(GLOB_RECURSE REPUX_LAYERED_FILES CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/*.h ${PROJECT_SOURCE_DIR}/src/*.cpp
     ${PROJECT_SOURCE_DIR}/include/repux/*.h)
add_custom_command(OUTPUT ${PROJECT_BINARY_DIR}/layers_checked.stamp
                   COMMAND ${REPUX_LAYER_CHECK}
                   COMMAND ${CMAKE_COMMAND} -E touch ${PROJECT_BINARY_DIR}/layers_checked.stamp
                   DEPENDS ${REPUX_LAYERED_FILES} ${PROJECT_SOURCE_DIR}/tools/check_layers.py
                   COMMENT "Checking that no layer includes a higher one (tools/check_layers.py)")
add_custom_target(repux_layering ALL DEPENDS ${PROJECT_BINARY_DIR}/layers_checked.stamp)
foreach(target ${REPUX_LAYER_TARGETS})
  add_dependencies(${target} repux_layering)
endforeach()
