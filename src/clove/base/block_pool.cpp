#include "clove/base/block_pool.hpp"

#include <array>

namespace clove::base {

namespace {

struct BlockCache {
    std::array<void*, 64> blocks{};
    size_t count = 0;
    ~BlockCache() {
        for (size_t i = 0; i < count; ++i) {
            ::operator delete(blocks[i]);
        }
    }
};

thread_local BlockCache t_blocks;

}  // namespace

void* AcquireIoBlock() {
    BlockCache& c = t_blocks;
    if (c.count > 0) {
        return c.blocks[--c.count];
    }
    return ::operator new(kIoBlockSize);
}

void ReleaseIoBlock(void* p) noexcept {
    BlockCache& c = t_blocks;
    if (c.count < c.blocks.size()) {
        c.blocks[c.count++] = p;
        return;
    }
    ::operator delete(p);
}

}  // namespace clove::base
