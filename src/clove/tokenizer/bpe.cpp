#include "clove/tokenizer/bpe.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <new>

namespace clove::tokenizer {
namespace {

static_assert(std::endian::native == std::endian::little, "the vocabulary blob is little-endian");

constexpr uint32_t kNoRank = std::numeric_limits<uint32_t>::max();
/// Pieces up to this many bytes are merged with tiktoken's quadratic scan (on the stack); longer
/// ones (a run of thousands of letters, a long whitespace run) with a heap, O(n log n).
constexpr size_t kLinearMergeMax = 128;
/// Pre-tokens longer than this are merged in slices of this size (see EncodePiece).
constexpr size_t kMaxMergeBytes = 64 * 1024;
constexpr size_t kClassBlock = 128;
constexpr char kMagic[8] = {'C', 'L', 'V', 'B', 'P', 'E', '0', '2'};

// Code point properties (the blob's stage-2 bytes): bits 0-1 the pre-tokenizer class, then the
// normalization flags (see tools/tokenizer/gen-blob.js).
enum : uint8_t {
    kOther = 0,
    kLetter = 1,
    kNumber = 2,
    kSpace = 3,
    kClassMask = 3,
    kQcNo = 4,         // NFKC changes the code point on its own
    kQcMaybe = 8,      // may compose with what precedes it
    kNonStarter = 16,  // canonical combining class != 0
    kHasDecomp = 32,   // NFKD differs (Hangul syllables excepted)
};
// Hangul syllable composition (Unicode 3.12).
constexpr uint32_t kSBase = 0xac00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11a7;
constexpr uint32_t kLCount = 19, kVCount = 21, kTCount = 28, kSCount = kLCount * kVCount * kTCount;
/// Invalid UTF-8 bytes travel through normalization as these (never a code point).
constexpr uint32_t kRawByte = 0x80000000u;

constexpr std::array<uint8_t, 128> MakeAsciiClasses() {
    std::array<uint8_t, 128> t{};
    for (int c = 0; c < 128; ++c) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
            t[c] = kLetter;
        } else if (c >= '0' && c <= '9') {
            t[c] = kNumber;
        } else if ((c >= 0x09 && c <= 0x0d) || c == ' ') {  // \p{White_Space} in ASCII
            t[c] = kSpace;
        }
    }
    return t;
}
constexpr std::array<uint8_t, 128> kAsciiClass = MakeAsciiClasses();

inline uint16_t LoadU16(const char* p) {
    uint16_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}
inline uint32_t LoadU32(const char* p) {
    uint32_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
}

inline uint64_t Mix(uint64_t h) {
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 29;
    return h;
}

/// The first min(n, 8) bytes at p as a zero-padded little-endian word (n >= 1), without a
/// variable-length memcpy: two overlapping loads cover every length.
inline uint64_t LoadUpTo8(const char* p, size_t n) {
    if (n >= 8) {
        uint64_t v;
        std::memcpy(&v, p, 8);
        return v;
    }
    if (n >= 4) {
        uint32_t a, b;
        std::memcpy(&a, p, 4);
        std::memcpy(&b, p + n - 4, 4);
        return uint64_t{a} | uint64_t{b} << (8 * (n - 4));
    }
    const auto* u = reinterpret_cast<const unsigned char*>(p);
    return uint64_t{u[0]} | uint64_t{u[n / 2]} << (8 * (n / 2)) | uint64_t{u[n - 1]} << (8 * (n - 1));
}

/// One UTF-8 unit: a valid code point, or a single invalid byte (valid == false).
struct Unit {
    uint32_t cp;
    uint32_t len;
    bool valid;
};

inline bool Cont(unsigned char c) { return (c & 0xc0) == 0x80; }

inline Unit Decode(const unsigned char* p, size_t avail) {
    const unsigned char b0 = p[0];
    if (b0 < 0x80) return {b0, 1, true};
    if (b0 >= 0xc2 && b0 <= 0xdf) {
        if (avail >= 2 && Cont(p[1])) return {(uint32_t{b0} & 0x1f) << 6 | (p[1] & 0x3fu), 2, true};
    } else if (b0 >= 0xe0 && b0 <= 0xef) {
        if (avail >= 3 && Cont(p[1]) && Cont(p[2])) {
            const uint32_t cp = (uint32_t{b0} & 0x0f) << 12 | (p[1] & 0x3fu) << 6 | (p[2] & 0x3fu);
            if (cp >= 0x800 && (cp < 0xd800 || cp > 0xdfff)) return {cp, 3, true};
        }
    } else if (b0 >= 0xf0 && b0 <= 0xf4) {
        if (avail >= 4 && Cont(p[1]) && Cont(p[2]) && Cont(p[3])) {
            const uint32_t cp = (uint32_t{b0} & 0x07) << 18 | (p[1] & 0x3fu) << 12 | (p[2] & 0x3fu) << 6 |
                                (p[3] & 0x3fu);
            if (cp >= 0x10000 && cp <= 0x10ffff) return {cp, 4, true};
        }
    }
    return {0xfffd, 1, false};
}

}  // namespace

struct Bpe::Impl {
    uint32_t first_rank = 0;
    // Token i's bytes are bytes[offsets[i], offsets[i + 1]).
    std::vector<char> bytes;
    std::vector<uint32_t> offsets;
    // Open addressing, linear probing. A slot holds the first kInline bytes of its token, so most
    // lookups (hit or miss) touch one cache line; longer tokens compare the rest from `bytes`.
    static constexpr size_t kInline = 12;
    struct Slot {
        uint64_t k0 = 0;  // bytes 0..7, zero-padded
        uint32_t k1 = 0;  // bytes 8..11, zero-padded
        uint16_t id = 0;  // token index + 1; 0 = empty
        uint16_t len = 0;
    };
    static Slot MakeSlot(const char* p, size_t n, uint32_t id) {
        Slot s;
        s.k0 = LoadUpTo8(p, n);
        if (n > 8) s.k1 = static_cast<uint32_t>(LoadUpTo8(p + 8, std::min<size_t>(n - 8, 4)));
        s.id = static_cast<uint16_t>(id);
        s.len = static_cast<uint16_t>(n);
        return s;
    }
    /// Hash of a token: its inline key, plus the bytes past kInline for long tokens.
    static uint64_t HashKey(const Slot& key, const char* p, size_t n) {
        constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
        uint64_t h = (key.k0 ^ (uint64_t{key.k1} << 16 | key.len) * 0xff51afd7ed558ccdull) * kMul;
        for (size_t i = kInline; i < n; i += 8) {
            h = (h ^ LoadUpTo8(p + i, std::min<size_t>(n - i, 8))) * kMul;
            h ^= h >> 32;
        }
        return Mix(h);
    }
    std::vector<Slot> slots;
    size_t mask = 0;
    size_t max_token_len = 0;
    // Unicode tables, pointing into the blob.
    const char* stage1 = nullptr;
    uint32_t stage1_len = 0;
    const unsigned char* stage2 = nullptr;
    const char* decomp_cp = nullptr;
    const char* decomp_off = nullptr;
    const char* decomp_utf8 = nullptr;
    uint32_t decomp_count = 0;
    const char* ccc = nullptr;  // (cp << 8 | rank) ascending
    uint32_t ccc_count = 0;
    const char* pair_first = nullptr;
    const char* pair_second = nullptr;
    const char* pair_composite = nullptr;
    uint32_t pair_count = 0;

    size_t size() const { return offsets.empty() ? 0 : offsets.size() - 1; }

    /// Token index of exactly these bytes, or kNoRank.
    uint32_t Find(const char* p, size_t n) const {
        if (n > max_token_len) return kNoRank;  // also keeps long merge candidates from being hashed
        const Slot want = MakeSlot(p, n, 0);
        return FindKey(want, HashKey(want, p, n), p, n);
    }

    uint32_t FindKey(const Slot& want, uint64_t hash, const char* p, size_t n) const {
        for (size_t pos = static_cast<size_t>(hash) & mask;; pos = (pos + 1) & mask) {
            const Slot& s = slots[pos];
            if (s.id == 0) return kNoRank;
            if (s.len == want.len && s.k0 == want.k0 && s.k1 == want.k1) {
                const uint32_t idx = s.id - 1u;
                if (n <= kInline) return idx;
                if (std::memcmp(bytes.data() + offsets[idx] + kInline, p + kInline, n - kInline) == 0) return idx;
            }
        }
    }

    /// A per-call memo of short lookups, direct-mapped and at most 64 KiB: a text asks for the
    /// same few thousand byte pairs and triples over and over, and the memo answers them from L1/L2
    /// instead of the 2 MiB vocabulary table.
    struct Memo {
        struct Entry {
            uint64_t k0 = 0;
            uint32_t k1 = 0;
            uint16_t len = 0;     // 0 = empty
            uint16_t result = 0;  // token index, 0xffff = not a token
        };
        explicit Memo(size_t text_bytes)
            : entries(std::clamp<size_t>(std::bit_ceil(text_bytes / 4), 256, 4096)), mask(entries.size() - 1) {}
        std::vector<Entry> entries;
        size_t mask;
    };

    uint32_t Lookup(Memo* memo, const char* p, size_t n) const {
        if (memo == nullptr || n > kInline) return Find(p, n);
        const Slot want = MakeSlot(p, n, 0);
        const uint64_t h = HashKey(want, p, n);
        Memo::Entry& e = memo->entries[(h >> 20) & memo->mask];
        if (e.len == n && e.k0 == want.k0 && e.k1 == want.k1) return e.result == 0xffff ? kNoRank : e.result;
        const uint32_t r = FindKey(want, h, p, n);
        e = {want.k0, want.k1, static_cast<uint16_t>(n), static_cast<uint16_t>(r == kNoRank ? 0xffff : r)};
        return r;
    }

    uint8_t PropsOf(uint32_t cp) const {
        if (cp < 128) return kAsciiClass[cp];
        const size_t block = cp / kClassBlock;
        if (block >= stage1_len) return kOther;
        return stage2[size_t{LoadU16(stage1 + 2 * block)} * kClassBlock + cp % kClassBlock];
    }

    /// Pre-tokenizer class and byte length of the unit at p (invalid bytes are kOther).
    uint8_t ClassAt(const unsigned char* p, size_t avail, uint32_t& len) const {
        if (p[0] < 0x80) {
            len = 1;
            return kAsciiClass[p[0]];
        }
        const Unit u = Decode(p, avail);
        len = u.len;
        return u.valid ? PropsOf(u.cp) & kClassMask : kOther;
    }

    // --- NFKC (the package's countTokens normalizes with String.prototype.normalize('NFKC')) ---

    /// Rank of the canonical combining class (0 for starters and raw bytes).
    uint32_t CccRank(uint32_t cp) const {
        if (cp >= kRawByte || !(PropsOf(cp) & kNonStarter)) return 0;
        uint32_t lo = 0, hi = ccc_count;
        while (lo < hi) {
            const uint32_t mid = (lo + hi) / 2;
            const uint32_t v = LoadU32(ccc + 4 * size_t{mid});
            if ((v >> 8) == cp) return v & 0xff;
            if ((v >> 8) < cp) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return 0;
    }

    std::string_view DecompositionOf(uint32_t cp) const {
        uint32_t lo = 0, hi = decomp_count;
        while (lo < hi) {
            const uint32_t mid = (lo + hi) / 2;
            const uint32_t v = LoadU32(decomp_cp + 4 * size_t{mid});
            if (v == cp) {
                const uint32_t b = LoadU32(decomp_off + 4 * size_t{mid});
                return {decomp_utf8 + b, LoadU32(decomp_off + 4 * (size_t{mid} + 1)) - b};
            }
            if (v < cp) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return {};
    }

    /// The primary composite of (a, b), or 0.
    uint32_t Compose(uint32_t a, uint32_t b) const {
        if (a >= kRawByte || b >= kRawByte) return 0;
        if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount) {
            return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
        }
        if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
            b < kTBase + kTCount) {
            return a + (b - kTBase);
        }
        const uint64_t key = uint64_t{a} << 32 | b;
        uint32_t lo = 0, hi = pair_count;
        while (lo < hi) {
            const uint32_t mid = (lo + hi) / 2;
            const uint64_t v = uint64_t{LoadU32(pair_first + 4 * size_t{mid})} << 32 | LoadU32(pair_second + 4 * size_t{mid});
            if (v == key) return LoadU32(pair_composite + 4 * size_t{mid});
            if (v < key) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        return 0;
    }

    /// NFKC quick check: npos when `s` is already normalized (the common case: no copy), else the
    /// byte offset of the last starter before the first code point that needs work; everything
    /// before that offset is final.
    size_t NormalizeFrom(std::string_view s) const {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const size_t n = s.size();
        size_t i = 0, last_starter = 0;
        uint32_t last_rank = 0;
        while (i < n) {
            // ASCII is NFKC-stable and made of starters: skip it 8 bytes at a time.
            if (i + 8 <= n) {
                uint64_t w;
                std::memcpy(&w, p + i, 8);
                if ((w & 0x8080808080808080ull) == 0) {
                    i += 8;
                    last_starter = i - 1;
                    last_rank = 0;
                    continue;
                }
            }
            if (p[i] < 0x80) {
                last_starter = i++;
                last_rank = 0;
                continue;
            }
            const Unit u = Decode(p + i, n - i);
            const uint8_t props = u.valid ? PropsOf(u.cp) : uint8_t{kOther};
            if (props & (kQcNo | kQcMaybe)) return last_starter;
            if (props & kNonStarter) {
                const uint32_t rank = CccRank(u.cp);
                if (rank < last_rank) return last_starter;  // not in canonical order
                last_rank = rank;
            } else {
                last_starter = i;
                last_rank = 0;
            }
            i += u.len;
        }
        return std::string_view::npos;
    }

    /// True when the code point at p starts a normalization segment: a starter that is unchanged
    /// by NFKC and combines with nothing before it (ASCII and invalid bytes included).
    bool BoundaryAt(const unsigned char* p, size_t avail, uint32_t& len) const {
        if (p[0] < 0x80) {
            len = 1;
            return true;
        }
        const Unit u = Decode(p, avail);
        len = u.len;
        return !u.valid || (PropsOf(u.cp) & (kQcNo | kQcMaybe | kNonStarter)) == 0;
    }

    /// `s` in NFKC from byte `from` on (s[from] starts a segment; everything before is final).
    /// Text between segment boundaries that needs work goes through NormalizeSegment; the rest is
    /// copied as it is.
    std::string Normalize(std::string_view s, size_t from) const {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const size_t n = s.size();
        std::string out;
        out.reserve(n + n / 8 + 16);
        out.append(s.substr(0, from));
        std::vector<uint32_t> cps;
        std::vector<uint8_t> ranks;
        size_t clean = from;  // start of the pending span copied verbatim
        uint32_t len = 0;
        bool boundary = from < n && BoundaryAt(p + from, n - from, len);
        for (size_t i = from; i < n;) {
            const size_t here = i, here_len = len;
            const bool here_boundary = boundary;
            i += here_len;
            boundary = i < n && BoundaryAt(p + i, n - i, len);
            if (here_boundary && (i >= n || boundary)) continue;  // a unit nothing changes
            // A segment: from here up to the next boundary.
            while (i < n && !boundary) {
                i += len;
                boundary = i < n && BoundaryAt(p + i, n - i, len);
            }
            out.append(s.substr(clean, here - clean));
            NormalizeSegment(s.substr(here, i - here), cps, ranks, out);
            clean = i;
        }
        out.append(s.substr(clean));
        return out;
    }

    /// One segment in NFKC, appended to `out`: full compatibility decomposition, canonical
    /// ordering, canonical composition (UAX #15). Invalid bytes pass through unchanged.
    void NormalizeSegment(std::string_view seg, std::vector<uint32_t>& cps, std::vector<uint8_t>& ranks,
                          std::string& out) const {
        const auto* p = reinterpret_cast<const unsigned char*>(seg.data());
        cps.clear();
        for (size_t i = 0; i < seg.size();) {
            const Unit u = Decode(p + i, seg.size() - i);
            if (!u.valid) {
                cps.push_back(kRawByte | p[i]);
            } else if (u.cp >= 0x80 && (PropsOf(u.cp) & kHasDecomp)) {
                const std::string_view d = DecompositionOf(u.cp);
                const auto* q = reinterpret_cast<const unsigned char*>(d.data());
                for (size_t k = 0; k < d.size();) {
                    const Unit v = Decode(q + k, d.size() - k);
                    cps.push_back(v.cp);
                    k += v.len;
                }
                if (d.empty()) cps.push_back(u.cp);
            } else {
                cps.push_back(u.cp);
            }
            i += u.len;
        }
        // Canonical ordering: a stable sort of every run of non-starters by combining class.
        ranks.resize(cps.size());
        for (size_t i = 0; i < cps.size(); ++i) {
            ranks[i] = static_cast<uint8_t>(CccRank(cps[i]));
            for (size_t j = i; j > 0 && ranks[j] != 0 && ranks[j - 1] > ranks[j]; --j) {
                std::swap(ranks[j], ranks[j - 1]);
                std::swap(cps[j], cps[j - 1]);
            }
        }
        // Canonical composition: a character joins the last starter unless something between them
        // blocks it (a starter, or a mark of the same or a higher class).
        if (cps.empty()) return;
        size_t starter = 0, kept = 1;
        uint32_t last_rank = ranks[0] == 0 ? 0 : 256;
        for (size_t i = 1; i < cps.size(); ++i) {
            const uint32_t r = ranks[i];
            const bool maybe = cps[i] < kRawByte && (PropsOf(cps[i]) & kQcMaybe);
            const uint32_t composite = maybe ? Compose(cps[starter], cps[i]) : 0;
            if (composite != 0 && (last_rank < r || last_rank == 0)) {
                cps[starter] = composite;
                continue;
            }
            if (r == 0) starter = kept;
            last_rank = r;
            cps[kept++] = cps[i];
        }
        for (size_t i = 0; i < kept; ++i) AppendUtf8(out, cps[i]);
    }

    static void AppendUtf8(std::string& out, uint32_t cp) {
        if (cp >= kRawByte) {
            out.push_back(static_cast<char>(cp & 0xff));
        } else if (cp < 0x80) {
            out.push_back(static_cast<char>(cp));
        } else if (cp < 0x800) {
            out.push_back(static_cast<char>(0xc0 | cp >> 6));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else if (cp < 0x10000) {
            out.push_back(static_cast<char>(0xe0 | cp >> 12));
            out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        } else {
            out.push_back(static_cast<char>(0xf0 | cp >> 18));
            out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
            out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
        }
    }

    /// Calls emit(offset, length) for each pre-token of `s`, in order. Implements
    /// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    /// with leftmost-first alternation and greedy runs.
    template <class Emit>
    void Split(std::string_view s, Emit&& emit) const {
        const auto* p = reinterpret_cast<const unsigned char*>(s.data());
        const size_t n = s.size();
        size_t i = 0;
        while (i < n) {
            const unsigned char b = p[i];
            if (b == '\'' && i + 1 < n) {
                const unsigned char c1 = p[i + 1];
                if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                    emit(i, 2);
                    i += 2;
                    continue;
                }
                if (i + 2 < n) {
                    const unsigned char c2 = p[i + 2];
                    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                        emit(i, 3);
                        i += 3;
                        continue;
                    }
                }
            }
            uint32_t len = 0;
            uint8_t cls = ClassAt(p + i, n - i, len);
            size_t run = i + len;  // end of the first character of the class run
            if (b == ' ' && run < n) {
                // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": the space joins a following run.
                uint32_t len1 = 0;
                const uint8_t cls1 = ClassAt(p + run, n - run, len1);
                if (cls1 != kSpace) {
                    cls = cls1;
                    run += len1;
                }
            }
            if (cls != kSpace) {
                while (run < n) {
                    uint32_t l = 0;
                    if (ClassAt(p + run, n - run, l) != cls) break;
                    run += l;
                }
                emit(i, run - i);
                i = run;
                continue;
            }
            // Whitespace run. "\s+(?!\S)": before a non-space character the run gives up its last
            // character (which then starts the next piece); "\s+": a lone one stays as it is.
            size_t last = i;
            while (run < n) {
                uint32_t l = 0;
                if (ClassAt(p + run, n - run, l) != kSpace) break;
                last = run;
                run += l;
            }
            if (run < n && last > i) run = last;
            emit(i, run - i);
            i = run;
        }
    }

    /// tiktoken's _byte_pair_merge: repeatedly merge the adjacent pair of lowest rank (leftmost on
    /// ties). Calls out(index) for each resulting token, or returns the count when kIds is false.
    template <bool kIds>
    size_t MergeLinear(const char* piece, size_t m, std::vector<uint32_t>* out, Memo* memo) const {
        uint32_t start[kLinearMergeMax + 1];
        uint32_t rank[kLinearMergeMax + 1];
        size_t parts = m + 1;
        for (size_t i = 0; i < m; ++i) {
            start[i] = static_cast<uint32_t>(i);
            rank[i] = i + 1 < m ? Lookup(memo, piece + i, 2) : kNoRank;
        }
        start[m] = static_cast<uint32_t>(m);
        rank[m] = kNoRank;
        auto range_rank = [&](size_t i) {  // rank of parts i, i+1, i+2 joined (before a removal)
            return i + 3 < parts ? Lookup(memo, piece + start[i], start[i + 3] - start[i]) : kNoRank;
        };
        for (;;) {
            uint32_t best = kNoRank;
            size_t at = 0;
            for (size_t i = 0; i + 1 < parts; ++i) {
                if (rank[i] < best) {
                    best = rank[i];
                    at = i;
                }
            }
            if (best == kNoRank) break;
            if (at > 0) rank[at - 1] = range_rank(at - 1);
            rank[at] = range_rank(at);
            std::copy(start + at + 2, start + parts, start + at + 1);
            std::copy(rank + at + 2, rank + parts, rank + at + 1);
            --parts;
        }
        if constexpr (kIds) {
            for (size_t i = 0; i + 1 < parts; ++i) out->push_back(Find(piece + start[i], start[i + 1] - start[i]));
        }
        return parts - 1;
    }

    /// The same merge order with a min-heap of candidate pairs and a linked list of parts. A
    /// candidate is (rank << 32 | start): lowest rank first, leftmost on ties, as in the scan.
    template <bool kIds>
    size_t MergeHeap(const char* piece, size_t m, std::vector<uint32_t>* out, Memo* memo) const {
        // next[i]: start of the part after the one starting at i (m at the end); prev likewise.
        std::vector<uint32_t> next(m), prev(m);
        std::vector<uint64_t> heap;
        heap.reserve(m);
        for (size_t i = 0; i < m; ++i) {
            next[i] = static_cast<uint32_t>(i + 1);
            prev[i] = static_cast<uint32_t>(i == 0 ? 0 : i - 1);
        }
        auto candidate = [&](uint32_t s) -> uint64_t {  // the pair starting at part s, or 0
            const uint32_t mid = next[s];
            if (mid >= m) return 0;
            const uint32_t r = Lookup(memo, piece + s, next[mid] - s);
            return r == kNoRank ? 0 : uint64_t{r} << 32 | s;
        };
        auto later = [](uint64_t a, uint64_t b) { return a > b; };  // makes std::*_heap a min-heap
        for (uint32_t i = 0; i + 1 < m; ++i) {
            if (const uint64_t c = candidate(i)) heap.push_back(c);
        }
        std::make_heap(heap.begin(), heap.end(), later);
        auto push = [&](uint32_t s) {
            if (const uint64_t c = candidate(s)) {
                heap.push_back(c);
                std::push_heap(heap.begin(), heap.end(), later);
            }
        };
        // A rank names exactly one byte string, so a candidate is current iff its start is still
        // a part start whose pair spans that token's length. Merged-away starts are marked by
        // next[s] = 0 (a live part always has next[s] > s).
        size_t parts = m;
        while (!heap.empty()) {
            std::pop_heap(heap.begin(), heap.end(), later);
            const uint64_t c = heap.back();
            heap.pop_back();
            const auto s = static_cast<uint32_t>(c);
            const auto rank = static_cast<uint32_t>(c >> 32);
            const uint32_t mid = next[s];
            if (mid <= s || mid >= m || next[mid] - s != offsets[rank + 1] - offsets[rank]) continue;
            const uint32_t end = next[mid];
            next[mid] = 0;
            next[s] = end;
            if (end < m) prev[end] = s;
            --parts;
            push(s);
            if (s > 0) push(prev[s]);
        }
        if constexpr (kIds) {
            for (uint32_t s = 0; s < m; s = next[s]) out->push_back(Find(piece + s, next[s] - s));
        }
        return parts;
    }

    template <bool kIds>
    size_t EncodePiece(const char* piece, size_t m, std::vector<uint32_t>* out, size_t linear_max,
                       Memo* memo = nullptr) const {
        // tiktoken looks the whole piece up first (a merge might not reach it); every single
        // byte is a token.
        if (const uint32_t idx = Lookup(memo, piece, m); idx != kNoRank) {
            if constexpr (kIds) out->push_back(idx);
            return 1;
        }
        if (m <= linear_max) return MergeLinear<kIds>(piece, m, out, memo);
        if (m <= kMaxMergeBytes) return MergeHeap<kIds>(piece, m, out, memo);
        // A pre-token this long (a megabyte of one letter) is not text: merge it in slices cut at
        // UTF-8 boundaries so memory stays bounded (tiktoken would merge it whole).
        size_t count = 0;
        for (size_t at = 0; at < m;) {
            size_t end = std::min(m, at + kMaxMergeBytes);
            while (end < m && end > at + 1 && (static_cast<unsigned char>(piece[end]) & 0xc0) == 0x80) --end;
            count += EncodePiece<kIds>(piece + at, end - at, out, linear_max, memo);
            at = end;
        }
        return count;
    }

    template <bool kIds>
    size_t Run(std::string_view utf8, std::vector<uint32_t>* out, bool allow_cache = true) const {
        std::string normalized;
        std::string_view text = utf8;
        if (const size_t first = NormalizeFrom(utf8); first != std::string_view::npos) {
            normalized = Normalize(utf8, first);
            text = normalized;
        }
        size_t count = 0;
        if (text.size() < kCacheMinText || !allow_cache) {
            Split(text, [&](size_t off, size_t len) {
                count += EncodePiece<kIds>(text.data() + off, len, out, kLinearMergeMax);
            });
            return count;
        }
        // Longer texts repeat their words: a small direct-mapped cache of piece -> result saves
        // whole merges, and the lookup memo most vocabulary probes (cache misses in a 2 MiB
        // table). Both are per call, so nothing is shared between threads.
        Memo memo(text.size());
        std::vector<CacheEntry> cache(std::min(kCacheMaxEntries, std::bit_ceil(text.size() / 16)));
        const size_t cache_mask = cache.size() - 1;
        Split(text, [&](size_t off, size_t len) {
            const char* piece = text.data() + off;
            if (len > kCacheMaxPiece) {
                count += EncodePiece<kIds>(piece, len, out, kLinearMergeMax, &memo);
                return;
            }
            const uint64_t h = PieceHash(piece, len);
            CacheEntry& e = cache[h & cache_mask];
            if (e.hash == h && e.len == len && std::memcmp(text.data() + e.off, piece, len) == 0) {
                if constexpr (kIds) {
                    const size_t from = e.ids_off;
                    for (size_t k = 0; k < e.count; ++k) out->push_back((*out)[from + k]);
                }
                count += e.count;
                return;
            }
            const size_t ids_off = kIds ? out->size() : 0;
            const size_t n = EncodePiece<kIds>(piece, len, out, kLinearMergeMax, &memo);
            count += n;
            e = {h, static_cast<uint32_t>(off), static_cast<uint32_t>(ids_off), static_cast<uint16_t>(len),
                 static_cast<uint16_t>(n)};
        });
        return count;
    }

    static constexpr size_t kCacheMinText = 2048;
    static constexpr size_t kCacheMaxEntries = 8192;
    static constexpr size_t kCacheMaxPiece = 64;
    struct CacheEntry {
        uint64_t hash = 0;
        uint32_t off = 0;      // the piece's first occurrence in the text
        uint32_t ids_off = 0;  // where its ids were written (Encode)
        uint16_t len = 0;      // 0 = empty
        uint16_t count = 0;
    };
    static uint64_t PieceHash(const char* p, size_t n) {
        constexpr uint64_t kMul = 0x9e3779b97f4a7c15ull;
        uint64_t h = n * 0xff51afd7ed558ccdull;
        for (size_t i = 0; i < n; i += 8) {
            h = (h ^ LoadUpTo8(p + i, std::min<size_t>(n - i, 8))) * kMul;
            h ^= h >> 29;
        }
        return Mix(h);
    }
};

Bpe::Bpe(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Bpe::~Bpe() = default;

std::unique_ptr<Bpe> Bpe::Load(std::string_view blob, std::string* error) {
    auto fail = [&](const char* why) -> std::unique_ptr<Bpe> {
        if (error) *error = why;
        return nullptr;
    };
    constexpr size_t kHeader = 8 + 10 * 4;
    if (blob.size() < kHeader + 4 || std::memcmp(blob.data(), kMagic, sizeof kMagic) != 0) {
        return fail("not a CLVBPE02 blob");
    }
    uint32_t fnv = 0x811c9dc5;
    for (size_t i = 0; i < blob.size() - 4; ++i) {
        fnv = (fnv ^ static_cast<unsigned char>(blob[i])) * 0x01000193u;
    }
    if (fnv != LoadU32(blob.data() + blob.size() - 4)) return fail("checksum mismatch");
    const char* h = blob.data() + 8;
    const uint32_t n = LoadU32(h), first_rank = LoadU32(h + 4), stage1_len = LoadU32(h + 8),
                   stage2_len = LoadU32(h + 12), decomp_count = LoadU32(h + 16), decomp_bytes = LoadU32(h + 20),
                   token_bytes = LoadU32(h + 24), ccc_count = LoadU32(h + 28), pair_count = LoadU32(h + 32);
    auto pad4 = [](size_t v) { return (v + 3) & ~size_t{3}; };
    const size_t pairs_at = kHeader;
    const size_t stage1_at = pairs_at + pad4(size_t{n} * 4);
    const size_t stage2_at = stage1_at + pad4(size_t{stage1_len} * 2);
    const size_t decomp_cp_at = stage2_at + pad4(stage2_len);
    const size_t decomp_off_at = decomp_cp_at + size_t{decomp_count} * 4;
    const size_t decomp_utf8_at = decomp_off_at + (size_t{decomp_count} + 1) * 4;
    const size_t ccc_at = decomp_utf8_at + pad4(decomp_bytes);
    const size_t pair_at = ccc_at + size_t{ccc_count} * 4;
    const size_t end = pair_at + size_t{pair_count} * 12;
    if (n == 0 || n >= 0xffff || end + 4 != blob.size() || stage2_len % kClassBlock != 0) {
        return fail("inconsistent section sizes");
    }
    auto impl = std::make_unique<Impl>();
    impl->first_rank = first_rank;
    impl->offsets.resize(size_t{n} + 1);
    impl->bytes.resize(token_bytes);
    uint32_t used = 0;
    for (uint32_t i = 0; i < n; ++i) {
        const uint16_t left = LoadU16(blob.data() + pairs_at + 4 * size_t{i});
        const uint16_t right = LoadU16(blob.data() + pairs_at + 4 * size_t{i} + 2);
        impl->offsets[i] = used;
        if (left == 0xffff) {
            if (right > 0xff || used + 1 > token_bytes) return fail("bad single-byte token");
            impl->bytes[used++] = static_cast<char>(right);
            continue;
        }
        if (left >= i || right >= i) return fail("token refers to a later token");
        const uint32_t lb = impl->offsets[left], ll = impl->offsets[left + 1] - lb;
        const uint32_t rb = impl->offsets[right], rl = impl->offsets[right + 1] - rb;
        if (size_t{used} + ll + rl > token_bytes) return fail("token bytes overflow");
        std::memcpy(impl->bytes.data() + used, impl->bytes.data() + lb, ll);
        std::memcpy(impl->bytes.data() + used + ll, impl->bytes.data() + rb, rl);
        used += ll + rl;
    }
    impl->offsets[n] = used;
    for (uint32_t i = 0; i < n; ++i) {
        impl->max_token_len = std::max<size_t>(impl->max_token_len, impl->offsets[i + 1] - impl->offsets[i]);
    }
    if (used != token_bytes) return fail("token byte count mismatch");

    // Hash table at load factor <= 1/2.
    const size_t slots = std::bit_ceil(size_t{n} * 2);
    impl->slots.assign(slots, Impl::Slot{});
    impl->mask = slots - 1;
    for (uint32_t i = 0; i < n; ++i) {
        const char* p = impl->bytes.data() + impl->offsets[i];
        const size_t len = impl->offsets[i + 1] - impl->offsets[i];
        if (len > 0xffff) return fail("token too long");
        const Impl::Slot slot = Impl::MakeSlot(p, len, i + 1);
        size_t pos = static_cast<size_t>(Impl::HashKey(slot, p, len)) & impl->mask;
        for (; impl->slots[pos].id != 0; pos = (pos + 1) & impl->mask) {
            const Impl::Slot& other = impl->slots[pos];
            if (other.len == slot.len && other.k0 == slot.k0 && other.k1 == slot.k1 &&
                std::memcmp(impl->bytes.data() + impl->offsets[other.id - 1u], p, len) == 0) {
                return fail("duplicate token");
            }
        }
        impl->slots[pos] = slot;
    }

    impl->stage1 = blob.data() + stage1_at;
    impl->stage1_len = stage1_len;
    impl->stage2 = reinterpret_cast<const unsigned char*>(blob.data() + stage2_at);
    for (uint32_t b = 0; b < stage1_len; ++b) {
        if ((size_t{LoadU16(impl->stage1 + 2 * size_t{b})} + 1) * kClassBlock > stage2_len) {
            return fail("class table index out of range");
        }
    }
    for (uint32_t c = 0; c < 128; ++c) {  // the code takes ASCII properties from kAsciiClass
        if (impl->stage2[size_t{LoadU16(impl->stage1)} * kClassBlock + c] != kAsciiClass[c]) {
            return fail("ASCII properties disagree with the pre-tokenizer");
        }
    }
    impl->decomp_cp = blob.data() + decomp_cp_at;
    impl->decomp_off = blob.data() + decomp_off_at;
    impl->decomp_utf8 = blob.data() + decomp_utf8_at;
    impl->decomp_count = decomp_count;
    for (uint32_t i = 0; i < decomp_count; ++i) {
        if (LoadU32(impl->decomp_off + 4 * size_t{i}) > LoadU32(impl->decomp_off + 4 * (size_t{i} + 1))) {
            return fail("decomposition offsets out of order");
        }
    }
    if (LoadU32(impl->decomp_off + 4 * size_t{decomp_count}) != decomp_bytes) {
        return fail("decomposition table size mismatch");
    }
    impl->ccc = blob.data() + ccc_at;
    impl->ccc_count = ccc_count;
    impl->pair_first = blob.data() + pair_at;
    impl->pair_second = impl->pair_first + 4 * size_t{pair_count};
    impl->pair_composite = impl->pair_second + 4 * size_t{pair_count};
    impl->pair_count = pair_count;
    return std::unique_ptr<Bpe>(new (std::nothrow) Bpe(std::move(impl)));
}

const Bpe& Bpe::Default() {
    // Function-local static: initialized once, thread-safe. A broken embedded blob (a build bug)
    // leaves an empty vocabulary whose Count() is a bytes/4 estimate rather than a crash.
    static const Bpe* const instance = [] {
        std::unique_ptr<Bpe> loaded = Load(detail::EmbeddedBlob());
        if (!loaded) loaded.reset(new Bpe(std::make_unique<Impl>()));
        return loaded.release();
    }();
    return *instance;
}

size_t Bpe::Count(std::string_view utf8) const {
    if (impl_->size() == 0) return (utf8.size() + 3) / 4;
    return impl_->Run<false>(utf8, nullptr);
}

std::vector<uint32_t> Bpe::Encode(std::string_view utf8) const {
    std::vector<uint32_t> ids;
    if (impl_->size() == 0) return ids;
    ids.reserve(utf8.size() / 3 + 1);
    impl_->Run<true>(utf8, &ids);
    for (uint32_t& id : ids) id += impl_->first_rank;
    return ids;
}

size_t Bpe::VocabularySize() const { return impl_->size(); }

namespace detail {

std::vector<std::string_view> SplitForTest(const Bpe& bpe, std::string_view utf8) {
    std::vector<std::string_view> pieces;
    bpe.impl_->Split(utf8, [&](size_t off, size_t len) { pieces.push_back(utf8.substr(off, len)); });
    return pieces;
}

std::string NormalizeForTest(const Bpe& bpe, std::string_view utf8) {
    if (bpe.impl_->size() == 0) return std::string(utf8);
    const size_t from = bpe.impl_->NormalizeFrom(utf8);
    return from == std::string_view::npos ? std::string(utf8) : bpe.impl_->Normalize(utf8, from);
}

std::vector<uint32_t> EncodeForTest(const Bpe& bpe, std::string_view utf8, bool use_cache) {
    std::vector<uint32_t> ids;
    if (bpe.impl_->size() == 0) return ids;
    bpe.impl_->Run<true>(utf8, &ids, use_cache);
    for (uint32_t& id : ids) id += bpe.impl_->first_rank;
    return ids;
}

std::vector<uint32_t> MergeForTest(const Bpe& bpe, std::string_view piece, size_t linear_max) {
    std::vector<uint32_t> ids;
    const Bpe::Impl* impl = bpe.impl_.get();
    if (piece.empty() || impl->size() == 0) return ids;
    linear_max = std::min(linear_max, kLinearMergeMax);
    if (piece.size() <= linear_max) {
        impl->MergeLinear<true>(piece.data(), piece.size(), &ids, nullptr);
    } else {
        impl->MergeHeap<true>(piece.data(), piece.size(), &ids, nullptr);
    }
    for (uint32_t& id : ids) id += impl->first_rank;
    return ids;
}

}  // namespace detail
}  // namespace clove::tokenizer
