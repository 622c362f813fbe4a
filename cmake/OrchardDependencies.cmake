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
# The wheel ships libarrow.so.NNNN only; create_library_symlinks() adds the libarrow.so that find_library wants
# (idempotent; needed in the fresh environment pip builds the wheel in).
orchard_python_query(PYARROW_LIBDIR
  "import pyarrow; pyarrow.create_library_symlinks(); print(pyarrow.get_library_dirs()[0])")
find_library(ARROW_LIBRARY NAMES arrow PATHS "${PYARROW_LIBDIR}" NO_DEFAULT_PATH REQUIRED)
find_library(PARQUET_LIBRARY NAMES parquet PATHS "${PYARROW_LIBDIR}" NO_DEFAULT_PATH REQUIRED)
add_library(orchard::arrow INTERFACE IMPORTED)
target_include_directories(orchard::arrow SYSTEM INTERFACE "${PYARROW_INCLUDE}")
target_link_libraries(orchard::arrow INTERFACE "${PARQUET_LIBRARY}" "${ARROW_LIBRARY}")
# Arrow's S3 file system (and the AWS SDK inside it) is a library of its own in the wheel.
find_library(ARROW_S3_LIBRARY NAMES arrow_s3 PATHS "${PYARROW_LIBDIR}" NO_DEFAULT_PATH REQUIRED)
add_library(orchard::arrow_s3 INTERFACE IMPORTED)
target_link_libraries(orchard::arrow_s3 INTERFACE orchard::arrow "${ARROW_S3_LIBRARY}")
# The wheel's libraries find each other through $ORIGIN; our binaries find them through this rpath.
set(CMAKE_BUILD_RPATH "${PYARROW_LIBDIR}")
set(ORCHARD_ARROW_LIBDIR "${PYARROW_LIBDIR}" CACHE INTERNAL "")

find_package(Eigen3 3.4 REQUIRED NO_MODULE)
# The PCA eigensolver: LAPACK's dsyevd through LAPACKE, resolved in OpenBLAS (blocked and threaded).
pkg_check_modules(LAPACKE REQUIRED IMPORTED_TARGET lapacke)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
find_package(nlohmann_json 3.11 REQUIRED)
pkg_check_modules(LIBJPEG REQUIRED IMPORTED_TARGET libjpeg)
pkg_check_modules(LIBPNG REQUIRED IMPORTED_TARGET libpng)
pkg_check_modules(LIBWEBP REQUIRED IMPORTED_TARGET libwebp)
# The audit's label names that differ only in case or Unicode normalisation (NFKC case folding).
pkg_check_modules(UTF8PROC REQUIRED IMPORTED_TARGET libutf8proc)
# stb_image_resize is compiled from its Debian header (src/orchard/image/stb_image_resize.cpp), not linked.
find_package(OpenSSL REQUIRED)
# Recognition (the CLI and the Python API): liblinear (no pkg-config file in Debian).
find_library(LIBLINEAR_LIBRARY NAMES linear REQUIRED)
find_path(LIBLINEAR_INCLUDE_DIR linear.h REQUIRED)
add_library(orchard::liblinear INTERFACE IMPORTED)
target_include_directories(orchard::liblinear SYSTEM INTERFACE "${LIBLINEAR_INCLUDE_DIR}")
target_link_libraries(orchard::liblinear INTERFACE "${LIBLINEAR_LIBRARY}")
# Nearest neighbours (index, audit, similar, eval's leakage-free figure): Debian's libfaiss-dev, a static
# library whose exported target needs OpenMP and the system BLAS/LAPACK (OpenBLAS through alternatives).
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(faiss 1.7 CONFIG REQUIRED)
# The CLI and serving: CLI11 and cpp-httplib (compiled in Debian, so its feature macros must match the library's).
if(ORCHARD_CLI)
  find_package(CLI11 REQUIRED)
  pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
endif()
