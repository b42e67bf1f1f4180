// File: request_table.hpp
// The client's outstanding requests (the pipelined half of the Lazy Pirate
// client): each request is kept, encoded, until its reply arrives, so that
// after a failover every unacknowledged request is re-sent unchanged to the
// new server (which dedupes by client_id + request_id and answers again).
// Replies are matched by request_id; finished requests are handed back to the
// caller, those submitted as "ordered" strictly in the order of submission.
// Pure: no sockets, no clock reads (times are passed in). A building block of
// starbus::client, public so that it can be tested on its own.
// Request ids are dense and increasing per client, so requests live in a ring
// indexed by id (a power-of-two table of indices into reused entries): no
// allocation per request once the window is warm, O(1) lookup by id, and
// submission order is id order.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <starbus/client/client_types.hpp>

namespace starbus {
enum class command : std::uint8_t;  // starbus/wire/messages.hpp: only named here, not included (a heavy header)
}

namespace starbus::client_detail {

using clock = std::chrono::steady_clock;

enum class request_kind : std::uint8_t { change, publish, get, file_list };

// One request the client has submitted and not yet finished.
struct pending_request {
    std::uint64_t id = 0;           // request_id, increasing in submission order
    request_kind kind = request_kind::change;
    std::string frame;              // the encoded message, re-sent unchanged
    clock::time_point deadline = clock::time_point::max();
    bool ordered = false;           // delivered only after every earlier ordered request
    std::string key;                // change: the key; publish: the topic (for messages and events)
    bool sent = false;              // false: (re)send on the current connection
    clock::time_point resend_at = clock::time_point::max();  // retry_later: resend then
    // Sent to a broker that was left before it answered: that broker may
    // still apply it (as the primary's own change, or replayed from its
    // orphans after a partition), so a later refusal is not definite.
    bool unanswered_elsewhere = false;
};

// A finished request, as handed back by take_finished().
struct finished_request {
    std::uint64_t id = 0;
    request_kind kind = request_kind::change;
    bool ordered = false;
    std::string key;
    get_result outcome;  // for changes and publishes only the result part is meaningful
};

class request_table {
  public:
    // `window`: how many requests may be in flight (outstanding, or finished
    // but held back behind an earlier ordered request) before full() says so.
    explicit request_table(std::size_t window);

    [[nodiscard]] std::size_t window() const { return _window; }
    [[nodiscard]] bool full() const { return in_flight() >= _window; }
    // Outstanding plus finished-but-held-back.
    [[nodiscard]] std::size_t in_flight() const { return _outstanding + _held; }
    [[nodiscard]] std::size_t outstanding() const { return _outstanding; }
    [[nodiscard]] bool idle() const { return _outstanding == 0 && _held == 0 && _ready.empty(); }

    // Adds a request; its id must be greater than every id added before.
    void add(pending_request r);
    // An outstanding request, or nullptr. Valid until the next add().
    [[nodiscard]] const pending_request* find(std::uint64_t id) const;

    // Finishes a request. Returns false, changing nothing, when the id is not
    // outstanding (a duplicate reply after a resend, or not ours).
    bool complete(std::uint64_t id, get_result outcome);

    // Marks every outstanding request unsent: the connection was replaced.
    // left_broker: it went to another broker, so a request sent and not
    // answered is marked unanswered_elsewhere (false: the same broker again).
    void mark_all_unsent(bool left_broker = true);
    // The outstanding requests not yet sent on the current connection, oldest
    // first. The caller sends them and calls mark_sent().
    [[nodiscard]] std::vector<std::uint64_t> unsent() const;
    void mark_sent(std::uint64_t id);
    // unsent() + find() + mark_sent() in one pass, without building a list:
    // hands each unsent frame, oldest first, to `send`, and marks it sent when
    // `send` returns true; stops at the first false (the socket is full: the
    // rest go later, in order). Returns how many were sent.
    // A PUBLISH-MANY, made for this one send, goes to `send_batch` to keep (when given; to `send` otherwise).
    std::size_t send_unsent(const std::function<bool(const std::string& frame)>& send,
                            const std::function<bool(std::string&& frame)>& send_batch = {});

    // PUBLISHes (or SETs) whose ids follow one another and that are all
    // unsent go as one PUBLISH-MANY (SET-MANY), at most max_batched of them
    // and about max_batched_bytes of frames, rather than one frame each,
    // while this is on (the default). Off: one frame per request, for a
    // broker that predates the -MANY commands (it answers UNKNOWN_COMMAND).
    static constexpr std::size_t max_batched = 1000;
    static constexpr std::size_t max_batched_bytes = 1024 * 1024;
    void batch_requests(bool on) { _batch_requests = on; }
    [[nodiscard]] bool batches_requests() const { return _batch_requests; }
    // Every PUBLISH and SET sent and not answered becomes unsent (sent again
    // in the next send_unsent): a broker refused the -MANY that carried it.
    void mark_batchable_unsent();

    // retry_later: send the request again at `when` (on the same connection).
    void schedule_resend(std::uint64_t id, clock::time_point when);
    // Moves a request's deadline to `when` (later only): a long upload that
    // keeps making progress must not expire.
    void extend_deadline(std::uint64_t id, clock::time_point when);
    // Requests whose scheduled resend is due: they become unsent.
    std::size_t release_due_resends(clock::time_point now);

    // Finishes every outstanding request whose deadline has passed with the
    // outcome `make_outcome` returns (status unreachable, typically; called
    // only when something expires). Returns how many.
    std::size_t expire(clock::time_point now, const std::function<result()>& make_outcome);

    // Finishes every outstanding request with `outcome` (a refused key: nothing would be answered).
    // Returns how many.
    std::size_t fail_outstanding(const result& outcome);

    // The earliest time something here needs attention (a deadline or a resend).
    [[nodiscard]] std::optional<clock::time_point> next_timer() const;

    // Finished requests to deliver: unordered ones as they finish, ordered
    // ones once every ordered request submitted before them has finished.
    [[nodiscard]] std::vector<finished_request> take_finished();
    [[nodiscard]] bool has_finished() const { return !_ready.empty(); }

  private:
    // The storage of one request, reused by later ones.
    struct entry {
        pending_request request;
        get_result outcome;  // held: the outcome, waiting for earlier ordered requests
        bool held = false;   // finished (ordered), not yet delivered
    };
    static constexpr std::uint32_t no_entry = ~std::uint32_t{0};

    [[nodiscard]] std::uint32_t slot(std::uint64_t id) const { return _ring[id & (_ring.size() - 1)]; }
    // The entry of an outstanding (not held) request, or nullptr.
    [[nodiscard]] entry* outstanding_entry(std::uint64_t id);
    [[nodiscard]] const entry* outstanding_entry(std::uint64_t id) const;
    void grow_ring(std::uint64_t span);
    // Frees the slot of a delivered request and moves _first past free slots.
    void vacate(std::uint64_t id);
    // One fewer unsent request.
    void drop_unsent();
    [[nodiscard]] finished_request finish(std::uint64_t id, entry& e, get_result outcome);
    // How many unsent requests of command `single` (PUBLISH or SET), from `id` on with consecutive ids, one
    // -MANY frame may carry (0 or 1: none to batch); their frames are left in _run_frames.
    std::size_t batch_run(std::uint64_t id, command single);
    void release_ordered();

    std::size_t _window;
    // By id modulo its size (a power of two, at least _last_id - _first + 1):
    // the index in _entries of that request, or no_entry (finished and
    // delivered, or an id this table never saw, e.g. a probe's).
    std::vector<std::uint32_t> _ring;
    std::vector<entry> _entries;        // outstanding and held requests, and free ones for reuse
    std::vector<std::uint32_t> _free;   // indices of free entries
    std::vector<finished_request> _ready;  // to hand back
    std::uint64_t _last_id = 0;
    std::uint64_t _first = 1;           // every id below is delivered or not ours; _last_id + 1 when empty
    // Where scans start, so that the hot paths pass over each request once:
    std::uint64_t _release_from = 1;    // every ordered request below it has been delivered (only grows)
    std::uint64_t _unsent_from = 1;     // no request below it is unsent (lowered by reconnects and resends)
    std::size_t _outstanding = 0;       // not finished
    std::size_t _held = 0;              // finished, ordered, waiting for an earlier ordered request
    // Cheap checks for the per-iteration calls (the window may hold thousands):
    std::size_t _unsent_count = 0;      // outstanding with sent == false and no resend scheduled
    std::size_t _scheduled_count = 0;   // outstanding with a resend scheduled
    clock::time_point _min_deadline = clock::time_point::max();  // a lower bound of the deadlines
    bool _batch_requests = true;
    std::vector<std::string_view> _run_frames;  // batch_run's, reused
};

}  // namespace starbus::client_detail
