// File: types.hpp
// The shared vocabulary (vocabulary.hpp, file_entry.hpp) made serialisable:
// the MessagePack adaptors of every vocabulary struct and enum that travels on
// the wire or is stored in the change log. The adaptors live apart from the
// types so that the client's public headers, which need the types, do not
// drag <msgpack.hpp> (and Boost's configuration) into every application.
//
// Each struct is packed as a MessagePack array of its fields in declaration
// order, exactly as an in-class MSGPACK_DEFINE of the same fields would pack
// it: the wire format and the stored log are unchanged by the split.
#pragma once

#include <msgpack.hpp>

#include <starbus/wire/file_entry.hpp>
#include <starbus/wire/vocabulary.hpp>

namespace starbus::wire_detail {

// The fields of a struct packed as an array, in wire order. Specialised for
// each packed struct; `V` is the struct, const or not.
template <typename T>
struct array_fields {
    static constexpr bool defined = false;
};

#define STARBUS_ARRAY_FIELDS(packed, ...)                                                       \
    template <>                                                                             \
    struct array_fields<packed> {                                                           \
        static constexpr bool defined = true;                                               \
        template <typename V>                                                               \
        static auto of(V& v) {                                                              \
            return msgpack::type::make_define_array(__VA_ARGS__);                           \
        }                                                                                   \
    };

STARBUS_ARRAY_FIELDS(position, v.epoch, v.seq)
STARBUS_ARRAY_FIELDS(change, v.epoch, v.seq, v.op, v.cls, v.key, v.value, v.client_id, v.request_id, v.time_ms)
STARBUS_ARRAY_FIELDS(request_record, v.client_id, v.request_id, v.epoch, v.seq)
STARBUS_ARRAY_FIELDS(epoch_span, v.epoch, v.first_seq, v.last_seq)
STARBUS_ARRAY_FIELDS(file_entry, v.path, v.size, v.hash, v.epoch, v.seq, v.xxh)
STARBUS_ARRAY_FIELDS(file_meta, v.size, v.hash, v.xxh)

#undef STARBUS_ARRAY_FIELDS

template <typename T>
inline constexpr bool packed_as_array = array_fields<T>::defined;

}  // namespace starbus::wire_detail

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
namespace adaptor {

template <typename T>
struct convert<T, std::enable_if_t<starbus::wire_detail::packed_as_array<T>>> {
    msgpack::object const& operator()(msgpack::object const& o, T& v) const {
        starbus::wire_detail::array_fields<T>::of(v).msgpack_unpack(o);
        return o;
    }
};

template <typename T>
struct pack<T, std::enable_if_t<starbus::wire_detail::packed_as_array<T>>> {
    template <typename Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& p, T const& v) const {
        starbus::wire_detail::array_fields<T>::of(v).msgpack_pack(p);
        return p;
    }
};

template <typename T>
struct object_with_zone<T, std::enable_if_t<starbus::wire_detail::packed_as_array<T>>> {
    void operator()(msgpack::object::with_zone& o, T const& v) const {
        starbus::wire_detail::array_fields<T>::of(v).msgpack_object(&o, o.zone);
    }
};

}  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS)
}  // namespace msgpack

MSGPACK_ADD_ENUM(starbus::change_class);
MSGPACK_ADD_ENUM(starbus::change_op);
