// File: cli_security.cpp
// `starbus keygen` and `starbus access` (docs/security.md). The access list
// is replicated state: a grant is a configuration change of the key
// "$starbus/access/NAME" to "ROLE PUBLIC-KEY", a revocation sets it to
// "revoked" (so that it also overrides a [[client]] table of the cluster
// file), and `ls` merges the cluster file's tables with what the server holds.
#include "cli.hpp"

#include <iostream>

#include <starbus/client/client.hpp>
#include <starbus/security/key_files.hpp>

namespace starbus::cli {
namespace {

void error_line(const std::string& s) { std::cerr << "starbus: " << s << std::endl; }

int report(const std::string& what, const result& r) {
    if (r.ok()) return exit_ok;
    std::string line = what + " failed: " + r.message;
    if (r.status == result_status::refused && !r.primary.empty())
        line += " (the access list changes only while the primary " + r.primary + " serves)";
    error_line(line);
    return exit_code_for(r.status);
}

// The effective list as the serving broker holds it now.
std::optional<std::vector<access_list_entry>> current_list(const invocation& inv, client& c, int& exit) {
    const dump_result d = c.dump(inv.timeout);
    if (!d.ok()) {
        exit = report("reading the access list", d);
        return std::nullopt;
    }
    std::vector<std::pair<std::string_view, std::string_view>> replicated;
    for (const auto& e : d.entries)
        if (std::string_view(e.key).substr(0, access_key_prefix.size()) == access_key_prefix)
            replicated.emplace_back(e.key, e.value);
    return merge_access_list(c.cluster().security.clients, replicated);
}

}  // namespace

int run_keygen(const invocation& inv) {
    try {
        const written_key_files files = write_key_files(inv.dir, inv.name, generate_curve_key_pair(), inv.replace);
        std::cout << "wrote " << files.secret.string() << " (secret: keep it to " << inv.name << ", mode 0600) and "
                  << files.pub.string() << " (public)" << std::endl;
        return exit_ok;
    } catch (const key_error& e) {
        error_line(e.what());
        return exit_usage;
    }
}

int run_access(const invocation& inv, client& c) {
    if (!c.cluster().curve())
        std::cerr << "starbus: note: this cluster's [security] mode is \"none\": the access list is kept, but "
                     "nothing checks it until the brokers run with mode = \"curve\""
                  << std::endl;
    if (inv.access_action == "ls") {
        int exit = exit_ok;
        const auto list = current_list(inv, c, exit);
        if (!list) return exit;
        std::cout << (inv.json ? render_access_json(*list) : render_access_text(*list)) << std::flush;
        return exit_ok;
    }
    access_value value;
    if (inv.access_action == "grant") {
        try {
            value.public_key = load_public_key_file(inv.pub_file);
        } catch (const key_error& e) {
            error_line(e.what());
            return exit_usage;
        }
        for (const auto& b : c.cluster().brokers)
            if (b.public_key == value.public_key) {
                error_line(inv.pub_file + " holds broker " + b.name + "'s key: a client needs a key of its own");
                return exit_usage;
            }
        value.role = *parse_access_role(inv.role);
    } else {
        int exit = exit_ok;
        const auto list = current_list(inv, c, exit);
        if (!list) return exit;
        bool known = false;
        for (const auto& e : *list) known = known || e.name == inv.name;
        if (!known) {
            error_line("no client named \"" + inv.name + "\" in the access list (starbus access ls lists them)");
            return exit_not_found;
        }
        value.revoked = true;
    }
    const result r = c.set(access_key(inv.name), access_value_text(value), change_class::config, inv.timeout);
    if (!r.ok()) return report("access " + inv.access_action + " " + inv.name, r);
    std::cout << (value.revoked ? "revoked " + inv.name : "granted " + inv.name + " the role " + inv.role) << std::endl;
    return exit_ok;
}

}  // namespace starbus::cli
