# CMake package file for the httpbatch C library, installed by scripts/install-c.sh into
# PREFIX/lib/cmake/httpbatch/. Relocatable: paths are found from this file's own location.
#
#   find_package(httpbatch CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE httpbatch::httpbatch)          # shared library
#   target_link_libraries(app PRIVATE httpbatch::httpbatch_static)   # static library
#
# Both targets carry the include directory (httpbatch.h, and httpbatch.hpp for C++17), and
# HTTPBATCH_REDIS when the library was built with the redis feature.
get_filename_component(_httpbatch_prefix "${CMAKE_CURRENT_LIST_DIR}/../../.." ABSOLUTE)

if(NOT TARGET httpbatch::httpbatch)
  add_library(httpbatch::httpbatch SHARED IMPORTED)
  set_target_properties(httpbatch::httpbatch PROPERTIES
    IMPORTED_LOCATION "${_httpbatch_prefix}/lib/libhttpbatch.so"
    IMPORTED_SONAME "libhttpbatch.so.@MAJOR@"
    INTERFACE_INCLUDE_DIRECTORIES "${_httpbatch_prefix}/include"
    INTERFACE_COMPILE_DEFINITIONS "@DEFINES@")
endif()

if(NOT TARGET httpbatch::httpbatch_static)
  add_library(httpbatch::httpbatch_static STATIC IMPORTED)
  separate_arguments(_httpbatch_static_libs UNIX_COMMAND "@STATIC_LIBS@")
  set_target_properties(httpbatch::httpbatch_static PROPERTIES
    IMPORTED_LOCATION "${_httpbatch_prefix}/lib/libhttpbatch.a"
    IMPORTED_LINK_INTERFACE_LANGUAGES "C"
    INTERFACE_INCLUDE_DIRECTORIES "${_httpbatch_prefix}/include"
    INTERFACE_COMPILE_DEFINITIONS "@DEFINES@"
    INTERFACE_LINK_LIBRARIES "${_httpbatch_static_libs}")
  unset(_httpbatch_static_libs)
endif()

unset(_httpbatch_prefix)
set(httpbatch_FOUND TRUE)
