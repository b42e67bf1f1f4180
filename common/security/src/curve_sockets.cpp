// File: curve_sockets.cpp
#include <starbus/security/curve_sockets.hpp>

#include <string>

namespace starbus {

void make_curve_server(zmq::socket_t& s, const curve_key_pair& own, std::string_view domain) {
    if (own.secret_key.empty()) throw key_error("a CURVE server needs its secret key (--key FILE.key)");
    s.set(zmq::sockopt::curve_server, 1);
    s.set(zmq::sockopt::curve_secretkey, own.secret_key);
    s.set(zmq::sockopt::zap_domain, std::string(domain));
}

void make_curve_client(zmq::socket_t& s, const curve_key_pair& own, std::string_view server_public_key) {
    if (own.secret_key.empty()) throw key_error("a CURVE client needs its secret key (--key FILE.key)");
    s.set(zmq::sockopt::curve_serverkey, std::string(server_public_key));
    s.set(zmq::sockopt::curve_publickey, own.public_key);
    s.set(zmq::sockopt::curve_secretkey, own.secret_key);
}

}  // namespace starbus
