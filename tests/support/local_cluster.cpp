// SPDX-License-Identifier: MIT
#include "local_cluster.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <regex>
#include <stdexcept>
#include <system_error>
#include <thread>

#ifndef ASIOCACHE_REDIS_CLI_BIN
#define ASIOCACHE_REDIS_CLI_BIN ""
#endif

namespace asiocache::test {
namespace {

using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int slot_count = 16384;
constexpr auto start_limit = std::chrono::seconds(30);
constexpr auto cli_limit = std::chrono::seconds(10);
constexpr auto settle_limit = std::chrono::seconds(10);
constexpr auto poll_period = milliseconds(50);

struct run_result {
    int status = -1;  // the exit code, or -1 when the process did not exit normally
    std::string out;
    std::string err;
};

auto joined(std::vector<std::string> const& args) -> std::string {
    std::string text;
    for (auto const& a : args) {
        text += (text.empty() ? "" : " ") + a;
    }
    return text;
}

// Reads `fds` (closing each at end of file) into `sinks` until both close or `end` passes;
// returns whether both closed.
auto drain(pollfd (&fds)[2], std::string* (&sinks)[2], steady::time_point end) -> bool {
    int open = 2;
    while (open > 0) {
        auto const left = std::chrono::duration_cast<milliseconds>(end - steady::now()).count();
        if (left <= 0) {
            return false;
        }
        if (::poll(fds, 2, static_cast<int>(left)) < 0 && errno != EINTR) {
            return false;
        }
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || fds[i].revents == 0) {
                continue;
            }
            char buf[4096];
            auto const got = ::read(fds[i].fd, buf, sizeof buf);
            if (got > 0) {
                sinks[i]->append(buf, static_cast<std::size_t>(got));
            } else if (got == 0 || errno != EINTR) {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open;
            }
        }
    }
    return true;
}

// Runs `args` (args[0] a path) with stdin from /dev/null, capturing stdout and stderr. A child
// still running after `limit` is killed and std::runtime_error thrown: no wait is unbounded.
auto run(std::vector<std::string> args, milliseconds limit) -> run_result {
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    argv.push_back(nullptr);

    // O_CLOEXEC: a server forked meanwhile by another thread must not hold a write end open,
    // which would keep the read from ever seeing end of file.
    int out[2];
    int err[2];
    if (::pipe2(out, O_CLOEXEC) != 0) {
        throw std::runtime_error("local_cluster: pipe failed");
    }
    if (::pipe2(err, O_CLOEXEC) != 0) {
        ::close(out[0]);
        ::close(out[1]);
        throw std::runtime_error("local_cluster: pipe failed");
    }
    pid_t const pid = ::fork();
    if (pid == 0) {
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        int devnull = ::open("/dev/null", O_RDONLY);
        if (devnull >= 0) {
            ::dup2(devnull, STDIN_FILENO);
        }
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::execv(argv[0], argv.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    if (pid < 0) {
        ::close(out[0]);
        ::close(err[0]);
        throw std::runtime_error("local_cluster: fork failed");
    }

    run_result result;
    pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    std::string* sinks[2] = {&result.out, &result.err};
    bool const finished = drain(fds, sinks, steady::now() + limit);
    for (auto const& f : fds) {
        if (f.fd >= 0) {
            ::close(f.fd);
        }
    }
    if (!finished) {
        ::kill(pid, SIGKILL);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (!finished) {
        throw std::runtime_error("local_cluster: `" + joined(args) + "` did not finish within " +
                                 std::to_string(limit.count()) + " ms");
    }
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

// redis-cli ends a reply with a newline, and an error reply with two.
auto without_trailing_newlines(std::string text) -> std::string {
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    return text;
}

auto lines_of(std::string_view text) -> std::vector<std::string_view> {
    std::vector<std::string_view> lines;
    while (!text.empty()) {
        auto const eol = text.find('\n');
        auto line = text.substr(0, eol);
        if (line.ends_with('\r')) {
            line.remove_suffix(1);
        }
        lines.push_back(line);
        text.remove_prefix(eol == std::string_view::npos ? text.size() : eol + 1);
    }
    return lines;
}

template <class T>
auto to_number(std::string_view text, std::string_view what) -> T {
    T value{};
    auto const [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc{} || end != text.data() + text.size()) {
        throw std::runtime_error("local_cluster: " + std::string(what) + " is not a number: '" +
                                 std::string(text) + "'");
    }
    return value;
}

void check_slot(int slot) {
    if (slot < 0 || slot >= slot_count) {
        throw std::invalid_argument("local_cluster: no slot " + std::to_string(slot));
    }
}

void expect_ok(std::string const& reply, std::string const& what) {
    if (reply != "OK") {
        throw std::runtime_error("local_cluster: " + what + " answered: " + reply);
    }
}

/// One line of CLUSTER NODES: `<id> <ip:port@cport[,hostname]> <flags> <master-id|-> ...`.
struct node_entry {
    std::string id;
    std::uint16_t port = 0;
    std::vector<std::string> flags;
    std::string master_id;  // "-" for a master

    [[nodiscard]] auto has(std::string_view flag) const -> bool {
        return std::find(flags.begin(), flags.end(), flag) != flags.end();
    }
};

auto split(std::string_view text, char by) -> std::vector<std::string_view> {
    std::vector<std::string_view> parts;
    for (std::size_t begin = 0;;) {
        auto const at = text.find(by, begin);
        parts.push_back(text.substr(begin, at - begin));
        if (at == std::string_view::npos) {
            return parts;
        }
        begin = at + 1;
    }
}

auto parse_nodes(std::string_view text) -> std::vector<node_entry> {
    std::vector<node_entry> nodes;
    for (auto const line : lines_of(text)) {
        auto const fields = split(line, ' ');
        if (fields.size() < 4) {
            continue;
        }
        auto const address = fields[1].substr(0, fields[1].find('@'));
        auto const colon = address.rfind(':');
        if (colon == std::string_view::npos) {
            throw std::runtime_error("local_cluster: CLUSTER NODES line without a port: " +
                                     std::string(line));
        }
        node_entry node{std::string(fields[0]),
                        to_number<std::uint16_t>(address.substr(colon + 1), "a node's port"),
                        {},
                        std::string(fields[3])};
        for (auto const flag : split(fields[2], ',')) {
            node.flags.emplace_back(flag);
        }
        nodes.push_back(std::move(node));
    }
    return nodes;
}

/// One range of CLUSTER SLOTS, with the port of the master serving it.
struct slot_range {
    int first = 0;
    int last = 0;
    std::uint16_t master = 0;
};

// CLUSTER SLOTS as `redis-cli -2 --json` prints it: [[first,last,["ip",port,"id",[...]],
// <replicas>...],...]. The master is the first node of a range; a range is the only place where
// two numbers are followed by an array.
auto parse_slots(std::string const& json) -> std::vector<slot_range> {
    static std::regex const range(R"(\[\s*(\d+)\s*,\s*(\d+)\s*,\s*\[\s*"[^"]*"\s*,\s*(\d+))");
    std::vector<slot_range> ranges;
    for (auto it = std::sregex_iterator(json.begin(), json.end(), range);
         it != std::sregex_iterator(); ++it) {
        auto const& m = *it;
        ranges.push_back({to_number<int>(m.str(1), "a slot"), to_number<int>(m.str(2), "a slot"),
                          to_number<std::uint16_t>(m.str(3), "a node's port")});
    }
    return ranges;
}

auto owner_in(std::vector<slot_range> const& ranges, int slot) -> std::optional<std::uint16_t> {
    for (auto const& r : ranges) {
        if (r.first <= slot && slot <= r.last) {
            return r.master;
        }
    }
    return std::nullopt;
}

auto uncovered(std::vector<slot_range> const& ranges) -> int {
    std::vector<bool> covered(slot_count, false);
    for (auto const& r : ranges) {
        for (int s = std::max(r.first, 0); s <= std::min(r.last, slot_count - 1); ++s) {
            covered[static_cast<std::size_t>(s)] = true;
        }
    }
    return static_cast<int>(std::count(covered.begin(), covered.end(), false));
}

// Polls `check`, which names what is still missing or returns "" when all is well, until it
// passes or `end` is reached; then throws with `what` and the last thing missing.
template <class Check>
void wait_for(steady::time_point end, std::string const& what, Check check) {
    for (;;) {
        auto const missing = check();
        if (missing.empty()) {
            return;
        }
        if (steady::now() >= end) {
            throw std::runtime_error("local_cluster: " + what + ": " + missing);
        }
        std::this_thread::sleep_for(poll_period);
    }
}

auto make_temp_dir() -> std::filesystem::path {
    auto pattern = (std::filesystem::temp_directory_path() / "asiocache-cluster-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) {
        throw std::runtime_error("local_cluster: cannot create a directory like " + pattern);
    }
    return pattern;
}

auto node_name(std::uint16_t port) -> std::string { return "node " + std::to_string(port); }

}  // namespace

auto local_cluster::start(int masters, std::vector<std::string> node_args)
    -> std::optional<local_cluster> {
    if (masters < 3) {
        throw std::invalid_argument("local_cluster: Redis Cluster needs at least 3 masters");
    }
    std::string cli = ASIOCACHE_REDIS_CLI_BIN;
    if (cli.empty() || ::access(cli.c_str(), X_OK) != 0) {
        return std::nullopt;
    }
    auto const end = steady::now() + start_limit;
    local_cluster cluster(make_temp_dir(), std::move(cli));
    cluster.node_args_ = std::move(node_args);
    for (std::size_t i = 0; i < 2 * static_cast<std::size_t>(masters); ++i) {
        if (!cluster.add_node(i)) {
            return std::nullopt;  // no redis-server
        }
    }
    cluster.create(end);
    cluster.wait_healthy(end);
    return std::optional<local_cluster>(std::move(cluster));
}

local_cluster::local_cluster(std::filesystem::path dir, std::string cli_binary)
    : dir_(std::move(dir)), cli_binary_(std::move(cli_binary)) {}

local_cluster::local_cluster(local_cluster&& other) noexcept
    : dir_(std::move(other.dir_)),
      cli_binary_(std::move(other.cli_binary_)),
      nodes_(std::move(other.nodes_)),
      ids_(std::move(other.ids_)),
      node_args_(std::move(other.node_args_)) {
    other.dir_.clear();
    other.nodes_.clear();
}

local_cluster::~local_cluster() {
    // SIGKILL, not SIGTERM: no node holds anything worth saving, and a Redis 7 master told to
    // shut down first waits (up to shutdown-timeout) for its replicas to catch up.
    for (auto& node : nodes_) {
        node.kill();
    }
    nodes_.clear();
    if (!dir_.empty()) {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }
}

auto local_cluster::add_node(std::size_t index) -> bool {
    auto const conf = dir_ / ("node-" + std::to_string(index) + ".conf");
    // The bus port is a free port too (the default, client port + 10000, may be taken or above
    // 65535). Should another process bind it first, the node exits at start-up and
    // local_server's retries with other client ports cannot help: pick another bus port.
    // repl-diskless-sync-delay 0: a master otherwise waits 5 s for more replicas before the
    // first sync, and start() waits for every replica's link.
    for (int attempt = 0;; ++attempt) {
        std::error_code ec;
        std::filesystem::remove(conf, ec);  // written by a node that then failed to listen
        try {
            std::vector<std::string> args{
                "--cluster-enabled", "yes", "--cluster-config-file", conf.string(),
                "--cluster-node-timeout", "1000", "--cluster-port", std::to_string(free_port()),
                "--repl-diskless-sync-delay", "0", "--dir", dir_.string()};
            args.insert(args.end(), node_args_.begin(), node_args_.end());
            auto node = local_server::redis(std::move(args));
            if (!node) {
                return false;
            }
            nodes_.push_back(std::move(*node));
            return true;
        } catch (std::runtime_error const&) {
            if (attempt == 2) {
                throw;
            }
        }
    }
}

void local_cluster::create(steady::time_point end) {
    std::vector<std::string> args{cli_binary_, "--cluster", "create"};
    for (auto const& node : nodes_) {
        args.push_back(node.address());
    }
    args.insert(args.end(), {"--cluster-replicas", "1", "--cluster-yes"});
    auto const left = std::chrono::duration_cast<milliseconds>(end - steady::now());
    auto const result = run(args, std::max(left, milliseconds(1)));
    if (result.status != 0) {
        throw std::runtime_error("local_cluster: `redis-cli --cluster create` exited with " +
                                 std::to_string(result.status) + ":\n" + result.out + result.err);
    }
    for (auto const& node : nodes_) {
        ids_.push_back(cli(node.port(), {"CLUSTER", "MYID"}));
    }
}

void local_cluster::wait_healthy(steady::time_point end) {
    wait_for(end, "the cluster was not ready within 30 s", [this]() -> std::string {
        for (auto const port : live_ports()) {
            if (cli(port, {"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) {
                return node_name(port) + " does not report cluster_state:ok";
            }
            auto const slots = run_cli(port, {"-2", "--json"}, {"CLUSTER", "SLOTS"});
            if (auto const gaps = uncovered(parse_slots(slots)); gaps > 0) {
                return node_name(port) + "'s CLUSTER SLOTS leaves " + std::to_string(gaps) +
                       " slots uncovered";
            }
            // A replica that never synced refuses to fail over (its data looks too old).
            auto const replication = cli(port, {"INFO", "replication"});
            if (replication.find("role:slave") != std::string::npos &&
                replication.find("master_link_status:up") == std::string::npos) {
                return node_name(port) + " is a replica whose link to its master is not up";
            }
        }
        return {};
    });
}

auto local_cluster::ports() const -> std::vector<std::uint16_t> {
    std::vector<std::uint16_t> ports;
    for (auto const& node : nodes_) {
        ports.push_back(node.port());
    }
    return ports;
}

auto local_cluster::seeds(std::size_t n) const -> std::string {
    if (n == 0 || n > nodes_.size()) {
        n = nodes_.size();
    }
    std::string text;
    for (std::size_t i = 0; i < n; ++i) {
        text += (i == 0 ? "" : ",") + nodes_[i].address();
    }
    return text;
}

auto local_cluster::url(std::string_view query) const -> std::string {
    auto text = "redis-cluster://" + seeds();
    if (!query.empty()) {
        text += "?" + std::string(query);
    }
    return text;
}

auto local_cluster::masters() const -> std::vector<std::uint16_t> {
    // The owners in CLUSTER SLOTS, not the "master" flags of CLUSTER NODES: right after the
    // cluster is created, a node asked may still list a new replica as a master (with no
    // slots) until gossip tells it otherwise.
    auto const live = live_ports();
    std::vector<std::uint16_t> masters;
    for (auto const& r : parse_slots(run_cli(any_live_port(), {"-2", "--json"}, {"CLUSTER", "SLOTS"}))) {
        if (std::find(live.begin(), live.end(), r.master) != live.end() &&
            std::find(masters.begin(), masters.end(), r.master) == masters.end()) {
            masters.push_back(r.master);
        }
    }
    std::sort(masters.begin(), masters.end());
    return masters;
}

auto local_cluster::owner_of(int slot) const -> std::uint16_t {
    check_slot(slot);
    auto const port = any_live_port();
    auto const owner =
        owner_in(parse_slots(run_cli(port, {"-2", "--json"}, {"CLUSTER", "SLOTS"})), slot);
    if (!owner) {
        throw std::runtime_error("local_cluster: " + node_name(port) + " knows no owner of slot " +
                                 std::to_string(slot));
    }
    return *owner;
}

auto local_cluster::keyslot(std::string_view key) const -> int {
    return to_number<int>(cli(any_live_port(), {"CLUSTER", "KEYSLOT", std::string(key)}),
                          "CLUSTER KEYSLOT's reply");
}

auto local_cluster::cli(std::uint16_t port, std::vector<std::string> const& args) const
    -> std::string {
    return run_cli(port, {}, args);
}

auto local_cluster::run_cli(std::uint16_t port, std::vector<std::string> const& options,
                            std::vector<std::string> const& args) const -> std::string {
    std::vector<std::string> argv{cli_binary_};
    argv.insert(argv.end(), options.begin(), options.end());
    argv.insert(argv.end(), {"-h", "127.0.0.1", "-p", std::to_string(port)});
    argv.insert(argv.end(), args.begin(), args.end());
    auto const result = run(argv, cli_limit);
    if (result.status != 0) {
        throw std::runtime_error("local_cluster: `redis-cli -p " + std::to_string(port) + " " +
                                 joined(args) + "` exited with " + std::to_string(result.status) +
                                 ": " + without_trailing_newlines(result.err + result.out));
    }
    return without_trailing_newlines(result.out);
}

auto local_cluster::pause(std::uint16_t port) -> bool { return nodes_[index_of(port)].pause(); }

void local_cluster::resume(std::uint16_t port) { nodes_[index_of(port)].resume(); }

auto local_cluster::index_of(std::uint16_t port) const -> std::size_t {
    for (std::size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i].port() == port) {
            return i;
        }
    }
    throw std::invalid_argument("local_cluster: no node on port " + std::to_string(port));
}

auto local_cluster::live_ports() const -> std::vector<std::uint16_t> {
    std::vector<std::uint16_t> ports;
    for (auto const& node : nodes_) {
        if (node.running()) {
            ports.push_back(node.port());
        }
    }
    return ports;
}

auto local_cluster::any_live_port() const -> std::uint16_t {
    for (auto const& node : nodes_) {
        if (node.running()) {
            return node.port();
        }
    }
    throw std::runtime_error("local_cluster: no node is running");
}

auto local_cluster::source_of_migration(int slot, std::uint16_t to) const -> std::uint16_t {
    if (!nodes_[index_of(to)].running()) {
        throw std::invalid_argument("local_cluster: " + node_name(to) + " was killed");
    }
    auto const from = owner_of(slot);
    if (from == to) {
        throw std::invalid_argument("local_cluster: " + node_name(to) + " already owns slot " +
                                    std::to_string(slot));
    }
    return from;
}

void local_cluster::begin_migration(int slot, std::uint16_t to) {
    auto const from = source_of_migration(slot, to);
    auto const s = std::to_string(slot);
    expect_ok(cli(to, {"CLUSTER", "SETSLOT", s, "IMPORTING", ids_[index_of(from)]}),
              node_name(to) + " told to import slot " + s);
    expect_ok(cli(from, {"CLUSTER", "SETSLOT", s, "MIGRATING", ids_[index_of(to)]}),
              node_name(from) + " told to migrate slot " + s);
}

auto local_cluster::migrate_some(int slot, std::size_t count) -> std::size_t {
    check_slot(slot);
    auto const from = owner_of(slot);
    auto const s = std::to_string(slot);
    // The source's own line of CLUSTER NODES shows the migration as "[<slot>->-<to-id>]": the
    // destination comes from the node, not from what this object remembers.
    auto const nodes = cli(from, {"CLUSTER", "NODES"});
    auto const mark = "[" + s + "->-";
    auto const at = nodes.find(mark);
    auto const close = nodes.find(']', at);
    if (at == std::string::npos || close == std::string::npos) {
        throw std::runtime_error("local_cluster: slot " + s + " is not migrating from " +
                                 node_name(from) + " (begin_migration first)");
    }
    auto const to_id = nodes.substr(at + mark.size(), close - at - mark.size());
    auto const to = std::find(ids_.begin(), ids_.end(), to_id);
    if (to == ids_.end()) {
        throw std::runtime_error("local_cluster: slot " + s + " migrates to unknown node " + to_id);
    }
    auto const to_port = nodes_[static_cast<std::size_t>(to - ids_.begin())].port();

    std::vector<std::string> migrate{
        "MIGRATE", "127.0.0.1", std::to_string(to_port), "", "0", "2000", "REPLACE", "KEYS"};
    auto const before_keys = migrate.size();
    auto const listed = cli(from, {"CLUSTER", "GETKEYSINSLOT", s, std::to_string(count)});
    for (auto const key : lines_of(listed)) {
        if (!key.empty()) {
            migrate.emplace_back(key);
        }
    }
    auto const moved = migrate.size() - before_keys;
    if (moved == 0) {
        return 0;
    }
    // NOKEY: every listed key expired or was deleted before MIGRATE reached it.
    auto const reply = cli(from, migrate);
    if (reply != "OK" && reply != "NOKEY") {
        throw std::runtime_error("local_cluster: MIGRATE of slot " + s + " from " +
                                 node_name(from) + " answered: " + reply);
    }
    return moved;
}

void local_cluster::finish_migration(int slot, std::uint16_t to) {
    auto const from = source_of_migration(slot, to);
    auto const s = std::to_string(slot);
    std::vector<std::string> const assign{"CLUSTER", "SETSLOT", s, "NODE", ids_[index_of(to)]};
    // The destination first: once the source lets go, its clients are sent to a node that
    // already knows it owns the slot.
    expect_ok(cli(to, assign), node_name(to) + " given slot " + s);
    expect_ok(cli(from, assign), node_name(from) + " told slot " + s + " moved");
    for (auto const master : masters()) {
        if (master != to && master != from) {
            expect_ok(cli(master, assign), node_name(master) + " told slot " + s + " moved");
        }
    }
    // Replicas learn it from their masters' pings; wait so that any node a test asks agrees.
    wait_for(steady::now() + settle_limit, "slot " + s + " did not settle on " + node_name(to),
             [&]() -> std::string {
                 for (auto const port : live_ports()) {
                     auto const slots = run_cli(port, {"-2", "--json"}, {"CLUSTER", "SLOTS"});
                     if (owner_in(parse_slots(slots), slot) != to) {
                         return node_name(port) + " names another owner";
                     }
                 }
                 return {};
             });
}

void local_cluster::migrate_slot(int slot, std::uint16_t to) {
    begin_migration(slot, to);
    auto const end = steady::now() + start_limit;
    while (migrate_some(slot, 100) > 0) {
        if (steady::now() >= end) {
            throw std::runtime_error("local_cluster: slot " + std::to_string(slot) +
                                     " still holds keys after 30 s of MIGRATE");
        }
    }
    finish_migration(slot, to);
}

auto local_cluster::kill_master(std::uint16_t port, std::chrono::milliseconds limit)
    -> std::uint16_t {
    auto const index = index_of(port);
    if (!nodes_[index].running()) {
        throw std::invalid_argument("local_cluster: " + node_name(port) + " was killed already");
    }
    // Its own view names its replicas; only those live ones may take over.
    std::vector<std::uint16_t> replicas;
    bool is_master = false;
    auto const live = live_ports();
    for (auto const& node : parse_nodes(cli(port, {"CLUSTER", "NODES"}))) {
        if (node.has("myself")) {
            is_master = node.has("master");
        } else if (node.master_id == ids_[index] &&
                   std::find(live.begin(), live.end(), node.port) != live.end()) {
            replicas.push_back(node.port);
        }
    }
    if (!is_master || replicas.empty()) {
        throw std::invalid_argument("local_cluster: " + node_name(port) +
                                    (is_master ? " has no replica" : " is not a master"));
    }
    // The first and last slot of each of its ranges: enough, with full coverage, to tell who
    // took them over.
    std::vector<int> owned;
    for (auto const& r : parse_slots(run_cli(port, {"-2", "--json"}, {"CLUSTER", "SLOTS"}))) {
        if (r.master == port) {
            owned.push_back(r.first);
            owned.push_back(r.last);
        }
    }
    if (owned.empty()) {
        // A replica never fails over a master without slots.
        throw std::invalid_argument("local_cluster: " + node_name(port) + " serves no slot");
    }

    nodes_[index].kill();
    std::uint16_t promoted = 0;
    wait_for(
        steady::now() + limit, "no replica of " + node_name(port) + " took over",
        [&]() -> std::string {
            promoted = 0;
            for (auto const p : live_ports()) {
                if (cli(p, {"CLUSTER", "INFO"}).find("cluster_state:ok") == std::string::npos) {
                    return node_name(p) + " does not report cluster_state:ok";
                }
                auto const slots = parse_slots(run_cli(p, {"-2", "--json"}, {"CLUSTER", "SLOTS"}));
                if (uncovered(slots) > 0) {
                    return node_name(p) + "'s CLUSTER SLOTS leaves slots uncovered";
                }
                for (auto const slot : owned) {
                    auto const owner = owner_in(slots, slot).value_or(0);
                    if (std::find(replicas.begin(), replicas.end(), owner) == replicas.end() ||
                        (promoted != 0 && owner != promoted)) {
                        return node_name(p) + " names " + node_name(owner) + " for slot " +
                               std::to_string(slot);
                    }
                    promoted = owner;
                }
            }
            return {};
        });
    return promoted;
}

void local_cluster::flush_all() {
    for (auto const master : masters()) {
        expect_ok(cli(master, {"FLUSHALL"}), node_name(master) + " told to FLUSHALL");
    }
}

}  // namespace asiocache::test
