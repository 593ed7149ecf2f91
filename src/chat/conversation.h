// A chat conversation (system prompt + alternating user/assistant turns) and its JSON file form:
//   {"messages": [{"role": "system", "content": "..."}, {"role": "user", "content": "..."}, ...]}
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "src/chat/chat_template.h"

namespace qlm::chat {

struct Conversation {
    std::string system;          // "" = no system message
    std::vector<Message> turns;  // user, assistant, user, ... (roles alternate, user first)

    std::vector<Message> messages() const;  // the system message (if any) first, then the turns
    // Drops the oldest exchange (a user turn and the reply after it); false when there is none
    // before the last user turn.
    bool drop_oldest_exchange();
    bool operator==(const Conversation&) const = default;
};

nlohmann::ordered_json to_json(const Conversation& c);
// Throws qlm::Error naming what is wrong (not an object, a missing/non-string field, an unknown
// role, roles out of order).
Conversation conversation_from_json(const nlohmann::json& j);

void save_conversation(const std::string& path, const Conversation& c);  // throws qlm::Error
Conversation load_conversation(const std::string& path);                 // throws qlm::Error

}  // namespace qlm::chat
