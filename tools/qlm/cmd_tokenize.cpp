// qlm tokenize -m MODEL "text": the prompt's token ids and pieces, as the model sees them.
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "src/model/model_loader.h"
#include "src/tokenizer/tokenizer.h"
#include "src/util/error.h"
#include "tools/qlm/command.h"
#include "tools/qlm/prompt_input.h"
#include "tools/qlm/text_util.h"

namespace qlm::cli {
namespace {

struct TokenizeOptions {
    std::string model;
    PromptSource prompt;
    bool ids_only = false;
    bool no_bos = false;
    bool special = false;
};

Action setup_tokenize(CLI::App& app) {
    auto o = std::make_shared<TokenizeOptions>();
    app.add_option("-m,--model", o->model, "GGUF model file")->required();
    app.add_option("text", o->prompt.text, "text to tokenize");
    app.add_option("-p,--prompt", o->prompt.text, "text to tokenize (same as the positional argument)");
    app.add_option("-f,--file", o->prompt.file, "read the text from a file");
    app.add_flag("--ids-only,--ids", o->ids_only, "print only the ids, as a list: [1, 403, ...]");
    app.add_flag("--no-bos", o->no_bos, "do not add BOS even if the model asks for it");
    app.add_flag("--special", o->special, "parse special-token text such as <s> or <|im_start|> in the input");
    return [o, &app]() -> int {
        o->prompt.has_text = app.count("text") + app.count("--prompt") > 0;
        std::string text = read_prompt(o->prompt, /*allow_empty=*/true);
        auto tok = load_tokenizer(o->model);
        EncodeOptions eo;
        eo.add_bos = tok->add_bos() && !o->no_bos;
        eo.parse_special = o->special;
        std::vector<int32_t> ids = tok->encode(text, eo);
        if (o->ids_only) {
            std::string line = "[";
            for (size_t i = 0; i < ids.size(); ++i) line += fmt::format("{}{}", i ? ", " : "", ids[i]);
            line += "]\n";
            std::fputs(line.c_str(), stdout);
        } else {
            for (int32_t id : ids)
                fmt::print("{:>6} -> '{}'\n", id, escape_bytes(tok->token_to_piece(id, /*render_special=*/true)));
        }
        std::fflush(stdout);
        return 0;
    };
}

const bool registered = register_command({"tokenize", "Show the token ids and pieces of a text", 30, &setup_tokenize});

}  // namespace
}  // namespace qlm::cli
