#include <catch2/catch.hpp>
#include <starbus/common/codec.hpp>
TEST_CASE("smoke") {
    starbus::set_request r; r.request_id = 7; r.key = "k";
    auto bytes = starbus::encode(r);
    auto d = starbus::decode(bytes.data(), bytes.size());
    REQUIRE(d.ok());
}
