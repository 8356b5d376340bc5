# Shared compile settings: every clove target links clove_options and clove_warnings PRIVATE.
add_library(clove_options INTERFACE)
target_compile_features(clove_options INTERFACE cxx_std_20)
target_compile_options(clove_options INTERFACE -fno-omit-frame-pointer)
target_compile_definitions(clove_options INTERFACE
  BOOST_ASIO_NO_DEPRECATED
  BOOST_ASIO_DISABLE_BOOST_COROUTINE
  BOOST_BEAST_USE_STD_STRING_VIEW
  # Asio recycles small handler and coroutine-frame blocks per thread; its default of 2 slots
  # missed for most of the ~8 frames and handlers one proxied request allocates (measured with a
  # malloc uprobe). Must be the same in every translation unit (it sizes a per-thread array).
  BOOST_ASIO_RECYCLING_ALLOCATOR_CACHE_SIZE=16
  CLOVE_VERSION="${PROJECT_VERSION}")
target_include_directories(clove_options INTERFACE ${PROJECT_SOURCE_DIR}/src)
if(CLOVE_SANITIZE)
  target_compile_options(clove_options INTERFACE -fsanitize=address,undefined -fno-sanitize-recover=undefined)
  target_link_options(clove_options INTERFACE -fsanitize=address,undefined)
endif()

add_library(clove_warnings INTERFACE)
target_compile_options(clove_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
  -Wnull-dereference -Wdouble-promotion -Wformat=2 -Wimplicit-fallthrough
  -Wno-maybe-uninitialized -Wno-mismatched-new-delete)
if(CLOVE_WERROR)
  target_compile_options(clove_warnings INTERFACE -Werror)
endif()

# clove_add_test(<module> <sources...>): one gtest binary per module, registered with ctest.
function(clove_add_test module)
  if(NOT CLOVE_BUILD_TESTS)
    return()
  endif()
  add_executable(clove_${module}_tests ${ARGN})
  target_link_libraries(clove_${module}_tests PRIVATE clove_${module} GTest::gtest_main
                        clove_options clove_warnings)
  gtest_discover_tests(clove_${module}_tests DISCOVERY_TIMEOUT 30)
endfunction()
