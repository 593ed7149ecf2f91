#include "src/chat/conversation.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "src/util/error.h"

namespace qlm::chat {

std::vector<Message> Conversation::messages() const {
    std::vector<Message> m;
    if (!system.empty()) m.push_back({"system", system});
    m.insert(m.end(), turns.begin(), turns.end());
    return m;
}

bool Conversation::drop_oldest_exchange() {
    // Keep the last user turn (the one being answered) and everything after it.
    if (turns.size() < 3) return false;
    const size_t n = turns[1].role == "assistant" ? 2 : 1;
    turns.erase(turns.begin(), turns.begin() + static_cast<std::ptrdiff_t>(n));
    return true;
}

nlohmann::ordered_json to_json(const Conversation& c) {
    nlohmann::ordered_json msgs = nlohmann::ordered_json::array();
    for (const Message& m : c.messages()) msgs.push_back({{"role", m.role}, {"content", m.content}});
    return {{"messages", msgs}};
}

Conversation conversation_from_json(const nlohmann::json& j) {
    if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array())
        throw_error("a conversation file is a JSON object with a \"messages\" array");
    Conversation c;
    const auto& msgs = j["messages"];
    for (size_t i = 0; i < msgs.size(); ++i) {
        const auto& m = msgs[i];
        if (!m.is_object() || !m.contains("role") || !m["role"].is_string() || !m.contains("content") ||
            !m["content"].is_string())
            throw_error("message {} needs string \"role\" and \"content\" fields", i + 1);
        const std::string role = m["role"].get<std::string>();
        const std::string content = m["content"].get<std::string>();
        if (role == "system") {
            if (i != 0) throw_error("message {}: a system message may only come first", i + 1);
            c.system = content;
        } else if (role == "user" || role == "assistant") {
            const std::string want = c.turns.empty() || c.turns.back().role == "assistant" ? "user" : "assistant";
            if (role != want) throw_error("message {}: expected a {} message (user and assistant turns alternate)", i + 1, want);
            c.turns.push_back({role, content});
        } else {
            throw_error("message {}: role '{}' is not one of system, user, assistant", i + 1, role);
        }
    }
    return c;
}

void save_conversation(const std::string& path, const Conversation& c) {
    const std::string tmp = path + ".tmp";
    {
        std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
        if (!f) throw_error("cannot write '{}': check the folder exists and is writable", path);
        f << to_json(c).dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << "\n";
        if (!f.flush()) throw_error("cannot write '{}': the disk may be full", path);
    }
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
        std::filesystem::remove(tmp, ec);
        throw_error("cannot write '{}': {}", path, ec.message());
    }
}

Conversation load_conversation(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) throw_error("'{}' is not a file: give a file written by /save", path);
    const auto size = std::filesystem::file_size(path, ec);
    if (ec || size > (64u << 20)) throw_error("'{}' is too large for a conversation file (over 64 MiB)", path);
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) throw_error("'{}' is not valid JSON: give a file written by /save", path);
    try {
        return conversation_from_json(j);
    } catch (const Error& e) {
        throw_error("'{}': {}", path, e.what());
    }
}

}  // namespace qlm::chat
