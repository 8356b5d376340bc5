#include "clove/base/shared_library.hpp"

#include <dlfcn.h>

namespace clove::base {

SharedLibrary::SharedLibrary(const char* soname, const char* package) : soname_(soname) {
    handle_ = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (!handle_) {
        const char* why = ::dlerror();
        error_ = "cannot load " + soname_ + " (install the Debian package " + package + "): " +
                 (why ? why : "unknown error");
    }
}

void* SharedLibrary::Symbol(const char* name) {
    if (!handle_) {
        return nullptr;
    }
    void* sym = ::dlsym(handle_, name);
    if (!sym && error_.empty()) {
        error_ = soname_ + " lacks " + name;
    }
    return sym;
}

}  // namespace clove::base
