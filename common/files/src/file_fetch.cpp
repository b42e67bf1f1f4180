// File: file_fetch.cpp
// The receiving queue of file transfers (file_fetch.hpp): which chunk to ask
// for next within the credit, what to do with each chunk, and when a file is
// whole and verified. Per file, a credit_window (chunk_plan.hpp) plans the
// chunks and keeps the resume point; the queue adds the byte credit shared by
// all files, the temporary files and the digests.
#include <starbus/files/file_fetch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <starbus/files/chunk_plan.hpp>
#include <starbus/files/content_hash.hpp>
#include <starbus/files/fast_hash.hpp>

namespace starbus {

struct fetch_queue::job {
    file_entry entry;
    std::uint64_t tag = 0;
    std::filesystem::path temp_path;
    unique_fd fd;
    credit_window window;
    std::size_t in_flight = 0;           // this file's requests in flight
    xxh128_hasher xxh;                   // over [0, hashed)
    std::optional<content_hasher> sha;
    std::uint64_t hashed = 0;            // == window.reached() between calls
    int attempts = 0;                    // whole-file mismatches so far
    int corrupt_chunks = 0;
    bool askable = false;                // listed in _askable

    job(const file_entry& e, std::filesystem::path temp, std::uint64_t t, const fetch_settings& s)
        : entry(e),
          tag(t),
          temp_path(std::move(temp)),
          // Per file, as many chunks as the shared credit could ever hold: the byte credit is the real limit.
          window(e.size, s.chunk_bytes, static_cast<std::size_t>(s.credit_bytes / s.chunk_bytes) + 1) {
        if (s.verify_sha256) sha.emplace();
    }
};

fetch_queue::fetch_queue(fetch_settings settings, std::function<std::uint64_t()> next_request_id)
    : _settings(settings), _next_request_id(std::move(next_request_id)) {
    if (_settings.chunk_bytes == 0 || _settings.credit_bytes == 0)
        throw std::invalid_argument("file transfers need a chunk size and a credit of at least one byte");
    _settings.chunk_bytes = std::min<std::uint64_t>(_settings.chunk_bytes, limits::max_chunk_bytes);
    _settings.credit_bytes = std::max(_settings.credit_bytes, _settings.chunk_bytes);
    _settings.max_open_files = std::max<std::size_t>(1, _settings.max_open_files);
}

fetch_queue::~fetch_queue() { clear(); }
fetch_queue::fetch_queue(fetch_queue&&) noexcept = default;
fetch_queue& fetch_queue::operator=(fetch_queue&&) noexcept = default;

fetch_queue::job* fetch_queue::find(std::uint64_t tag) {
    auto it = _jobs.find(tag);
    return it == _jobs.end() ? nullptr : it->second.get();
}

bool fetch_queue::contains(std::uint64_t tag) const { return _jobs.contains(tag); }

const file_entry* fetch_queue::entry(std::uint64_t tag) const {
    auto it = _jobs.find(tag);
    return it == _jobs.end() ? nullptr : &it->second->entry;
}

std::optional<std::uint64_t> fetch_queue::reached(std::uint64_t tag) const {
    auto it = _jobs.find(tag);
    if (it == _jobs.end()) return std::nullopt;
    return it->second->window.reached();
}

void fetch_queue::add(const file_entry& e, std::filesystem::path temp_path, std::uint64_t tag) {
    cancel(tag);
    _jobs.emplace(tag, std::make_unique<job>(e, std::move(temp_path), tag, _settings));
    _waiting.push_back(tag);
    _pending_bytes += e.size;
}

void fetch_queue::drop_flights_of(std::uint64_t tag) {
    for (auto it = _in_flight.begin(); it != _in_flight.end();) {
        if (it->second.tag == tag) {
            _credit_used -= it->second.length;
            it = _in_flight.erase(it);
        } else {
            ++it;
        }
    }
    if (job* j = find(tag)) j->in_flight = 0;
}

// Removes a job's bookkeeping; its temporary file is the caller's concern.
void fetch_queue::forget(std::uint64_t tag) {
    job* j = find(tag);
    if (!j) return;
    drop_flights_of(tag);
    _pending_bytes -= j->entry.size - std::min(j->entry.size, j->window.reached());
    if (j->fd) --_open;
    std::erase(_waiting, tag);
    std::erase(_askable, tag);
    _jobs.erase(tag);
}

bool fetch_queue::cancel(std::uint64_t tag) {
    job* j = find(tag);
    if (!j) return false;
    const bool had_file = j->fd.valid();
    const auto temp = j->temp_path;
    forget(tag);
    std::error_code ec;
    if (had_file) std::filesystem::remove(temp, ec);
    return true;
}

void fetch_queue::clear() {
    std::vector<std::uint64_t> tags;
    for (const auto& [tag, j] : _jobs) tags.push_back(tag);
    for (auto t : tags) cancel(t);
}

void fetch_queue::fail(job& j, std::string reason, bool stale) {
    fetch_failure f{j.entry, j.tag, std::move(reason), stale};
    const bool had_file = j.fd.valid();
    const auto temp = j.temp_path;
    forget(j.tag);
    std::error_code ec;
    if (had_file) std::filesystem::remove(temp, ec);
    _failed.push_back(std::move(f));
}

bool fetch_queue::open(job& j) {
    // Truncated: whatever a temporary file of that name held belongs to nobody now.
    j.fd.reset(::open(j.temp_path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
    if (!j.fd) {
        fail(j, "cannot create the temporary file " + j.temp_path.string() + ": " + std::strerror(errno) +
                    " (check the directory's permissions and free space)");
        return false;
    }
    ++_open;
    // Reserve the whole file at once: a full disk shows now, before any byte moves, and the file system lays
    // the file out in one piece. (Not every file system can: then the writes allocate as they go.)
    if (j.entry.size > 0 && ::fallocate(j.fd.get(), 0, 0, static_cast<off_t>(j.entry.size)) != 0 && errno == ENOSPC) {
        fail(j, "no room for " + j.temp_path.string() + " (" + std::to_string(j.entry.size) +
                    " bytes): the disk is full; free some space");
        return false;
    }
    return true;
}

// Reads back [from, to) of the temporary file into the digests: chunks that
// arrived beyond a gap were written but not hashed until the gap closed.
bool fetch_queue::hash_from_disk(job& j, std::uint64_t from, std::uint64_t to) {
    std::vector<char> block(std::min<std::uint64_t>(to - from, content_hash_block_bytes));
    while (from < to) {
        const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(block.size(), to - from));
        const ssize_t n = ::pread(j.fd.get(), block.data(), want, static_cast<off_t>(from));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        j.xxh.update(block.data(), static_cast<std::size_t>(n));
        if (j.sha) j.sha->update(block.data(), static_cast<std::size_t>(n));
        from += static_cast<std::uint64_t>(n);
    }
    return true;
}

std::optional<fetch_order> fetch_queue::next_order() {
    while (_credit_used < _settings.credit_bytes) {
        job* j = nullptr;
        while (!_askable.empty() && !j) {
            j = find(_askable.front());
            if (!j || !j->window.can_request()) {
                if (j) j->askable = false;
                _askable.pop_front();
                j = nullptr;
            }
        }
        if (!j) {
            if (_waiting.empty() || _open >= _settings.max_open_files) return std::nullopt;
            job* next = find(_waiting.front());
            _waiting.pop_front();
            if (!next || !open(*next)) continue;
            if (next->entry.size == 0) {
                finish_if_done(*next);  // nothing to ask for: complete at once
                continue;
            }
            next->askable = true;
            _askable.push_back(next->tag);
            continue;
        }
        // A chunk that would overrun the credit waits, unless nothing is in flight (a credit below one chunk
        // must not stall the queue).
        const std::uint64_t at_most =
            std::min(_settings.chunk_bytes, j->entry.size - std::min(j->entry.size, j->window.reached()));
        if (_credit_used > 0 && _credit_used + at_most > _settings.credit_bytes) return std::nullopt;
        auto r = j->window.next_request();
        if (!r) continue;
        fetch_order o;
        o.tag = j->tag;
        o.request.request_id = _next_request_id();
        o.request.path = j->entry.path;
        o.request.hash = j->entry.hash;
        o.request.offset = r->offset;
        o.request.length = r->length;
        _in_flight.emplace(o.request.request_id, flight{j->tag, r->offset, r->length});
        _credit_used += r->length;
        ++j->in_flight;
        return o;
    }
    return std::nullopt;
}

chunk_outcome fetch_queue::on_chunk(const file_chunk_view& c) {
    auto it = _in_flight.find(c.request_id);
    if (it == _in_flight.end()) return chunk_outcome::unexpected;
    const flight f = it->second;
    job* j = find(f.tag);
    if (!j || c.offset != f.offset || c.data.size() != f.length || c.hash != j->entry.hash || c.path != j->entry.path)
        return chunk_outcome::unexpected;  // not the answer to that request: leave the request in flight
    _in_flight.erase(it);
    _credit_used -= f.length;
    --j->in_flight;
    if (chunk_checksum(c.data.data(), c.data.size()) != c.checksum) {
        // Damaged on its way: forget this file's requests in flight and ask again from its resume point.
        if (++j->corrupt_chunks > _settings.max_corrupt_chunks) {
            fail(*j, "chunks of " + j->entry.path + " keep arriving damaged (checksum mismatch): check the network");
            return chunk_outcome::corrupt;
        }
        drop_flights_of(j->tag);
        j->window.restart_from(j->window.reached());
        if (!j->askable) {
            j->askable = true;
            _askable.push_back(j->tag);
        }
        return chunk_outcome::corrupt;
    }
    if (!j->window.on_chunk(c.offset, c.data.size())) return chunk_outcome::unexpected;
    // Write it where it belongs, in full.
    std::size_t done = 0;
    while (done < c.data.size()) {
        const ssize_t n = ::pwrite(j->fd.get(), c.data.data() + done, c.data.size() - done,
                                   static_cast<off_t>(c.offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            fail(*j, "cannot write " + j->temp_path.string() + ": " +
                         std::strerror(n < 0 ? errno : ENOSPC) + " (free some space, or check the disk)");
            return chunk_outcome::failed;
        }
        done += static_cast<std::size_t>(n);
    }
    _received_bytes += c.data.size();
    const std::uint64_t before = j->hashed, after = j->window.reached();
    if (after > before) {
        // Usually this chunk is the next piece of the prefix: hash it from memory; anything beyond it that
        // had arrived early is read back from the file.
        std::uint64_t from = before;
        if (c.offset == before) {
            j->xxh.update(c.data.data(), c.data.size());
            if (j->sha) j->sha->update(c.data.data(), c.data.size());
            from += c.data.size();
        }
        if (from < after && !hash_from_disk(*j, from, after)) {
            fail(*j, "cannot read back " + j->temp_path.string() + ": " + std::strerror(errno));
            return chunk_outcome::failed;
        }
        j->hashed = after;
        _pending_bytes -= after - before;
    }
    if (j->window.can_request() && !j->askable) {
        j->askable = true;
        _askable.push_back(j->tag);
    }
    finish_if_done(*j);
    return chunk_outcome::accepted;
}

void fetch_queue::start_over(job& j) {
    drop_flights_of(j.tag);
    _pending_bytes += j.window.reached();
    j.window.restart_from(0);
    j.hashed = 0;
    (void)j.xxh.finish();
    if (j.sha) (void)j.sha->finish();
    if (::ftruncate(j.fd.get(), 0) != 0) {
        fail(j, "cannot truncate " + j.temp_path.string() + ": " + std::strerror(errno));
        return;
    }
    if (!j.askable) {
        j.askable = true;
        _askable.push_back(j.tag);
    }
}

void fetch_queue::finish_if_done(job& j) {
    if (!j.window.done() || j.in_flight != 0) return;
    const std::string xxh = j.xxh.finish();
    const std::string sha = j.sha ? j.sha->finish() : std::string{};
    const bool xxh_ok = xxh == j.entry.xxh;
    const bool sha_ok = !j.sha || sha == j.entry.hash;
    if (!xxh_ok || !sha_ok) {
        // Never hand over a file that is not the version asked for: fetch it whole again, a few times.
        if (++j.attempts >= _settings.max_attempts) {
            fail(j, "the content received for " + j.entry.path + " does not match its " +
                        std::string(xxh_ok ? "SHA-256" : "XXH3-128") + " after " + std::to_string(j.attempts) +
                        " attempts: the sender's copy may be damaged");
            _failed.back().content_mismatch = true;
            return;
        }
        start_over(j);
        return;
    }
    fetched_file out{j.entry, j.tag, j.temp_path, std::move(j.fd)};
    --_open;
    const auto tag = j.tag;
    std::erase(_askable, tag);
    _jobs.erase(tag);
    _completed.push_back(std::move(out));
}

std::optional<std::uint64_t> fetch_queue::on_stale(std::uint64_t request_id) {
    auto it = _in_flight.find(request_id);
    if (it == _in_flight.end()) return std::nullopt;
    const auto tag = it->second.tag;
    if (job* j = find(tag))
        fail(*j, "the sender no longer holds version " + j->entry.hash.substr(0, 12) + " of " + j->entry.path, true);
    return tag;
}

void fetch_queue::restart() {
    _in_flight.clear();
    _credit_used = 0;
    _askable.clear();
    for (auto& [tag, j] : _jobs) {
        j->in_flight = 0;
        j->askable = false;
        if (!j->fd) continue;  // not started: still waiting its turn
        j->window.restart_from(j->window.reached());
        if (j->window.can_request()) {
            j->askable = true;
            _askable.push_back(tag);
        }
    }
}

std::vector<fetched_file> fetch_queue::take_completed() {
    std::vector<fetched_file> out;
    out.swap(_completed);
    return out;
}

std::vector<fetch_failure> fetch_queue::take_failed() {
    std::vector<fetch_failure> out;
    out.swap(_failed);
    return out;
}

}  // namespace starbus
