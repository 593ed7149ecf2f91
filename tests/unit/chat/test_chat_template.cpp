// Built-in chat templates: each family renders a fixed conversation to the text its published
// template produces; the Jinja interpreter running the published template agrees with the native
// renderer; detection by substrings; --chat-template names.
#include <gtest/gtest.h>

#include <filesystem>

#include "common/test_support.h"
#include "src/chat/chat_template.h"
#include "src/gguf/gguf_file.h"
#include "src/util/error.h"

namespace qlm::chat {
namespace {

const std::vector<Message> kConversation = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
};

struct Case {
    Family family;
    std::string bos, eos;
    std::string expected;  // kConversation with the generation prompt
};

// Expected strings: what each family's published template (chat_template.cpp names the model it
// comes from) renders for kConversation; system messages go into the first user turn for Gemma.
const std::vector<Case>& cases() {
    static const std::vector<Case> c = {
        {Family::ChatML, "<s>", "<|im_end|>",
         "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n"
         "<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n"},
        {Family::Llama2, "<s>", "</s>",
         "<s>[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST] Hi there </s><s>[INST] Who are you [/INST]"},
        {Family::Llama3, "<|begin_of_text|>", "<|eot_id|>",
         "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|>"
         "<|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
         "Hi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|>"
         "<|start_header_id|>assistant<|end_header_id|>\n\n"},
        {Family::Mistral, "<s>", "</s>",
         "<s> [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]"},
        {Family::Zephyr, "<s>", "</s>",
         "<|system|>\nYou are a helpful assistant</s>\n<|user|>\nHello</s>\n<|assistant|>\nHi there</s>\n"
         "<|user|>\nWho are you</s>\n<|assistant|>\n"},
        {Family::Phi3, "<s>", "<|endoftext|>",
         "<s><|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
         "<|user|>\nWho are you<|end|>\n<|assistant|>\n"},
        {Family::Gemma, "<bos>", "<eos>",
         "<bos><start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\n"
         "Hi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\n"},
        {Family::DeepSeek, "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
         "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
         "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>You are a helpful assistant\n\nUser: Hello\n\n"
         "Assistant: Hi there<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>User: Who are you\n\nAssistant:"},
        {Family::Vicuna, "<s>", "</s>",
         "You are a helpful assistant\n\nUSER: Hello\nASSISTANT: Hi there</s>\nUSER: Who are you\nASSISTANT:"},
        {Family::Alpaca, "<s>", "</s>",
         "You are a helpful assistant\n\n### Instruction:\nHello\n\n### Response:\nHi there\n\n"
         "### Instruction:\nWho are you\n\n### Response:\n"},
    };
    return c;
}

std::string render_jinja(Family f, const std::vector<Message>& msgs, bool gen, const std::string& bos,
                         const std::string& eos) {
    jinja::Json m = jinja::Json::array();
    for (const auto& x : msgs) m.push_back({{"role", x.role}, {"content", x.content}});
    auto t = jinja::Template::parse(canonical_source(f));
    return t.render({{"messages", m}, {"bos_token", bos}, {"eos_token", eos}, {"add_generation_prompt", gen}});
}

TEST(ChatTemplate, EveryFamilyRendersTheFixedConversation) {
    ASSERT_EQ(cases().size(), 10u);
    for (const Case& c : cases()) {
        SCOPED_TRACE(family_name(c.family));
        ChatTemplate t = ChatTemplate::builtin(c.family, c.bos, c.eos);
        EXPECT_EQ(t.render(kConversation, true), c.expected);
    }
}

TEST(ChatTemplate, JinjaRunningThePublishedTemplateMatchesNative) {
    // Conversations: the fixed one, whitespace-padded content (templates that trim), no system
    // message, a single user turn, and without the generation prompt.
    const std::vector<std::vector<Message>> convs = {
        kConversation,
        {{"system", " Be brief. "}, {"user", "  Hello\n"}, {"assistant", "   I am an assistant   "}, {"user", "Another"}},
        {{"user", "Hello"}, {"assistant", "Hi"}, {"user", "Bye"}},
        {{"user", "Just one question?"}},
        {{"system", "S"}, {"user", "U"}, {"assistant", "A"}},
    };
    for (const Case& c : cases()) {
        for (size_t i = 0; i < convs.size(); ++i)
            for (bool gen : {true, false}) {
                SCOPED_TRACE(fmt::format("{} conversation {} gen {}", family_name(c.family), i, gen));
                const bool has_system = convs[i][0].role == "system";
                if (c.family == Family::Gemma && has_system) {
                    // The published Gemma template refuses system messages; that is a clean error.
                    EXPECT_THROW(render_jinja(c.family, convs[i], gen, c.bos, c.eos), Error);
                    continue;
                }
                ChatTemplate t = ChatTemplate::builtin(c.family, c.bos, c.eos);
                EXPECT_EQ(t.render(convs[i], gen), render_jinja(c.family, convs[i], gen, c.bos, c.eos));
            }
    }
}

TEST(ChatTemplate, DetectsFamiliesBySubstrings) {
    for (const Case& c : cases()) EXPECT_EQ(detect_family(canonical_source(c.family)), c.family) << family_name(c.family);
    // Qwen2's template (a default system prompt) is ChatML.
    EXPECT_EQ(detect_family("{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
                            "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
                            "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
                            "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"),
              Family::ChatML);
    EXPECT_EQ(detect_family("{{ messages[0]['content'] }}"), Family::Jinja);
    // Variants whose output differs from the family's published template run in Jinja.
    EXPECT_EQ(detect_family("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}"
                            "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}"
                            "{% endif %}{% endfor %}"),
              Family::Jinja);  // Mistral v0.1
    EXPECT_EQ(detect_family("{{- '<|start_header_id|>system<|end_header_id|>\\n\\n' }}{{- 'Cutting Knowledge Date: "
                            "December 2023\\n' }}"),
              Family::Jinja);  // Llama 3.1
    EXPECT_EQ(detect_family("{% for m in messages %}[INST] <<SYS>>{% endfor %}"), Family::Jinja);
    EXPECT_EQ(detect_family(""), Family::Jinja);
}

TEST(ChatTemplate, RealPhi3VocabTemplateIsDetected) {
    auto file = gguf::GgufFile::open(test::shared_file("models/vocab/ggml-vocab-phi-3.gguf").string());
    auto tmpl = file->get_string("tokenizer.chat_template");
    ASSERT_TRUE(tmpl.has_value());
    EXPECT_EQ(detect_family(*tmpl), Family::Phi3);
    // The model's own template also runs in the interpreter: it puts the generation prompt after
    // every user turn and drops the system message.
    ChatTemplate j = ChatTemplate::from_source("{# custom #}" + *tmpl + "{{ '' }}", "<s>", "<|endoftext|>");
    EXPECT_EQ(j.family(), Family::Phi3);  // still recognised
    auto t = jinja::Template::parse(*tmpl);
    jinja::Json msgs = jinja::Json::array({{{"role", "user"}, {"content", "Hi"}}});
    EXPECT_EQ(t.render({{"messages", msgs}, {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"add_generation_prompt", true}}),
              "<s><|user|>\nHi<|end|>\n<|assistant|>\n");
}

TEST(ChatTemplate, NamesAndAliases) {
    EXPECT_EQ(family_from_name("chatml"), Family::ChatML);
    EXPECT_EQ(family_from_name("ChatML"), Family::ChatML);
    EXPECT_EQ(family_from_name("qwen"), Family::ChatML);
    EXPECT_EQ(family_from_name("llama-3"), Family::Llama3);
    EXPECT_EQ(family_from_name("alpaca"), Family::Alpaca);
    EXPECT_FALSE(family_from_name("nope").has_value());
    EXPECT_NE(builtin_names().find("vicuna"), std::string::npos);
}

TEST(ChatTemplate, UnknownTemplatesRunInJinja) {
    ChatTemplate t = ChatTemplate::from_source(
        "{% for m in messages %}[{{ m.role | upper }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[ASSISTANT]{% endif %}",
        "<s>", "</s>");
    EXPECT_EQ(t.family(), Family::Jinja);
    EXPECT_EQ(t.render({{"user", "hi"}, {"assistant", "yo"}}, true), "[USER] hi\n[ASSISTANT] yo\n[ASSISTANT]");
    // Syntax errors surface when the template is loaded, as one line.
    try {
        ChatTemplate::from_source("{% for m in messages %}{{ m.content }", "", "");
        FAIL() << "no error";
    } catch (const Error& e) {
        EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("chat template"), std::string::npos) << e.what();
    }
}

TEST(ChatTemplate, NativeRejectsUnknownRoles) {
    ChatTemplate t = ChatTemplate::builtin(Family::ChatML, "", "");
    EXPECT_THROW(t.render({{"tool", "x"}}, true), Error);
}

TEST(ChatTemplate, StopStringsEndTheTurn) {
    using V = std::vector<std::string>;
    EXPECT_EQ(ChatTemplate::builtin(Family::Alpaca, "", "").stop_strings(), V{"### Instruction:"});
    EXPECT_EQ(ChatTemplate::builtin(Family::ChatML, "<s>", "</s>").stop_strings(), V{"<|im_end|>"});
    EXPECT_EQ(ChatTemplate::builtin(Family::Llama3, "", "").stop_strings(), V{"<|eot_id|>"});
    EXPECT_EQ(ChatTemplate::builtin(Family::Llama2, "<s>", "</s>").stop_strings(), V{"</s>"});
    EXPECT_TRUE(ChatTemplate::builtin(Family::Mistral, "", "").stop_strings().empty());  // no EOS text known
    EXPECT_EQ(kFallbackFamily, Family::ChatML);
}

}  // namespace
}  // namespace qlm::chat
