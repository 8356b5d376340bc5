#include "clove/base/shared_library.hpp"

#include <gtest/gtest.h>

#include <cstring>

using clove::base::SharedLibrary;

TEST(SharedLibrary, MissingLibraryNamesThePackage) {
    SharedLibrary so("libclove-does-not-exist.so.9", "clove-nothing");
    EXPECT_NE(so.error().find("cannot load libclove-does-not-exist.so.9 (install the Debian package clove-nothing)"),
              std::string::npos)
        << so.error();
    decltype(&::strlen) fn = &::strlen;
    so.Resolve(fn, "strlen");
    EXPECT_EQ(fn, nullptr);
}

TEST(SharedLibrary, ResolvesAndReportsTheFirstMissingName) {
    SharedLibrary so("libc.so.6", "libc6");
    decltype(&::strlen) len = nullptr;
    so.Resolve(len, "strlen");
    ASSERT_NE(len, nullptr);
    EXPECT_EQ(len("clove"), 5u);
    EXPECT_EQ(so.error(), "");
    decltype(&::strlen) none = &::strlen;
    so.Resolve(none, "clove_no_such_function");
    so.Resolve(none, "clove_another_missing");
    EXPECT_EQ(none, nullptr);
    EXPECT_EQ(so.error(), "libc.so.6 lacks clove_no_such_function");
}
