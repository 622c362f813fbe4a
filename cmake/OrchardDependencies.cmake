# Finds orchard's dependencies: OpenVINO and Arrow/Parquet from the Python wheels in the project's venv,
# everything else from Debian packages.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

function(orchard_python_query out code)
  execute_process(COMMAND ${Python3_EXECUTABLE} -c "${code}"
    OUTPUT_VARIABLE value OUTPUT_STRIP_TRAILING_WHITESPACE RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "orchard: '${Python3_EXECUTABLE} -c ${code}' failed; run scripts/setup.sh first")
  endif()
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

orchard_python_query(OPENVINO_CMAKE_DIR "from openvino.utils import get_cmake_path; print(get_cmake_path())")
find_package(OpenVINO REQUIRED COMPONENTS Runtime ONNX TensorFlowLite PATHS "${OPENVINO_CMAKE_DIR}" NO_DEFAULT_PATH)

orchard_python_query(PYARROW_INCLUDE "import pyarrow; print(pyarrow.get_include())")
orchard_python_query(PYARROW_LIBDIR "import pyarrow; print(pyarrow.get_library_dirs()[0])")
find_library(ARROW_LIBRARY NAMES arrow PATHS "${PYARROW_LIBDIR}" NO_DEFAULT_PATH REQUIRED)
find_library(PARQUET_LIBRARY NAMES parquet PATHS "${PYARROW_LIBDIR}" NO_DEFAULT_PATH REQUIRED)
add_library(orchard::arrow INTERFACE IMPORTED)
target_include_directories(orchard::arrow SYSTEM INTERFACE "${PYARROW_INCLUDE}")
target_link_libraries(orchard::arrow INTERFACE "${PARQUET_LIBRARY}" "${ARROW_LIBRARY}")
# The wheel's libraries find each other through $ORIGIN; our binaries find them through this rpath.
set(CMAKE_BUILD_RPATH "${PYARROW_LIBDIR}")
set(ORCHARD_ARROW_LIBDIR "${PYARROW_LIBDIR}" CACHE INTERNAL "")

find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(nlohmann_json 3.11 REQUIRED)
find_package(CLI11 REQUIRED)
pkg_check_modules(LIBJPEG REQUIRED IMPORTED_TARGET libjpeg)
pkg_check_modules(LIBPNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(LIBWEBP REQUIRED IMPORTED_TARGET libwebp)
pkg_check_modules(STB REQUIRED IMPORTED_TARGET stb)
find_package(OpenSSL REQUIRED)
