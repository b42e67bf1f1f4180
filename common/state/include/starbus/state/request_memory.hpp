// File: request_memory.hpp
// The recent applied requests of a state (kv_state): the newest `capacity`
// request records, oldest first, and a lookup by (client id, request id), so
// that a retried request is answered again instead of applied twice. Every
// applied change passes through here on the server and on every replica, so
// it allocates nothing per record once full: a ring of records and an
// open-addressing index into it (linear probing, deletion by backward shift),
// where a node-based hash map cost a malloc, a free and two cache misses each.
// Most lookups are of new requests (a writer's next request_id): the highest
// request id held per client answers those without probing the index, whose
// few cache misses per lookup were a tenth of a busy server's time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <unordered_map>
#include <vector>

#include <starbus/wire/vocabulary.hpp>

namespace starbus {

class request_memory {
  public:
    explicit request_memory(std::size_t capacity = limits::remembered_requests);

    // Records `r` as the newest, forgetting the oldest beyond the capacity. A record whose (client id, request
    // id) is already held changes nothing (the first application is the one that counts).
    void remember(const request_record& r);
    [[nodiscard]] std::optional<request_record> find(std::uint64_t client_id, std::uint64_t request_id) const;
    // Oldest first.
    [[nodiscard]] std::vector<request_record> all() const;
    [[nodiscard]] std::size_t size() const { return _count; }
    void clear();

  private:
    // The slot that holds ring position `at` (it must be indexed).
    [[nodiscard]] std::size_t slot_of(std::uint32_t at) const;
    void unindex(std::size_t slot);
    void index(std::uint32_t at);
    void grow_index();

    std::size_t _capacity;
    std::vector<request_record> _ring;  // grows to _capacity, then wraps: _ring[_oldest] is the oldest
    std::size_t _oldest = 0;
    std::size_t _count = 0;
    // A record's 32-bit hash (high half) and its ring position + 1 (low half), or 0 (empty): probing compares
    // hashes and finds home slots without touching the ring. The size is a power of two, at least twice the
    // records held, so that probe runs stay short.
    std::vector<std::uint64_t> _slots;
    // Per client, the highest request id ever remembered here (since clear()): a request above it is not
    // held. Entries are made at a client's first record and kept until clear(), for the first
    // max_watermarks clients only (a bound against client churn); later clients are looked up by probing.
    static constexpr std::size_t max_watermarks = 4096;
    std::unordered_map<std::uint64_t, std::uint64_t> _highest;
    // Whether (client_id, request_id) is certainly not held, without probing.
    [[nodiscard]] bool certainly_new(std::uint64_t client_id, std::uint64_t request_id) const;
    void raise_watermark(const request_record& r);
};

}  // namespace starbus
