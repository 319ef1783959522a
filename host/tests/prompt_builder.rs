//! Prompt bytes for both styles, chat templates, and the over-length filter (spec §3.8).

mod data_support;

use lrpo_core::{default_languages, Error, Lang};
use lrpo_host::data::Question;
use lrpo_host::prompt::{instruction, user_content, ChatTemplate, Message, PromptBuilder, PromptStyle, TokenCounter};

const LLAMA3: &str = "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = \
'<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}\
{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}\
{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}";

fn question(text: &str, index: u64, lang: &str) -> Question {
    Question {
        index,
        question: text.to_string(),
        answer: "a".to_string(),
        topic: "General Knowledge".to_string(),
        region: None,
        orig_lang: Lang::new(lang),
        fixed_lang: None,
        language_name: Lang::new(lang).name().unwrap_or("").to_string(),
        needs_language: false,
        extra: "{}".to_string(),
        origin: Default::default(),
    }
}

#[test]
fn tag_style_is_byte_exact() {
    // TV-11: "  Qual è X?  " routed to en.
    let content = user_content(PromptStyle::Tag, "  Qual è X?  ", &Lang::new("en")).unwrap();
    assert_eq!(content.as_bytes(), "Qual è X?\n<|out_lang_en|>".as_bytes());
    let content = user_content(PromptStyle::Tag, "\tWhat is X?\n", &Lang::new("zh")).unwrap();
    assert_eq!(content, "What is X?\n<|out_lang_zh|>");
    // Any code works for the tag, not only the 15.
    assert_eq!(user_content(PromptStyle::Tag, "q", &Lang::new("th")).unwrap(), "q\n<|out_lang_th|>");
}

#[test]
fn instruction_style_asks_in_the_target_language() {
    let cases = [
        ("en", "Please answer in English."),
        ("zh", "请用中文回答。"),
        ("de", "Bitte antworte auf Deutsch."),
        ("ja", "日本語で答えてください。"),
        ("ar", "يرجى الإجابة باللغة العربية."),
        ("ru", "Пожалуйста, ответьте на русском языке."),
    ];
    for (code, expected) in cases {
        let content = user_content(PromptStyle::Instruction, "  What is X? ", &Lang::new(code)).unwrap();
        assert_eq!(content, format!("What is X?\n\n{expected}"));
    }
    let all: std::collections::BTreeSet<&str> = default_languages().iter().map(|l| instruction(l).unwrap()).collect();
    assert_eq!(all.len(), 15, "one distinct instruction per language");
    match user_content(PromptStyle::Instruction, "q", &Lang::new("th")) {
        Err(Error::Config { key, message }) => {
            assert_eq!(key, "data.prompt_style");
            assert!(message.contains("`th`") && message.contains("style `tag`"), "{message}");
        }
        other => panic!("expected a config error, got {other:?}"),
    }
    assert_eq!("instruction".parse::<PromptStyle>().unwrap(), PromptStyle::Instruction);
    assert!(matches!("tags".parse::<PromptStyle>(), Err(Error::Config { .. })));
}

#[test]
fn prompt_style_is_read_from_config_as_lowercase_names() {
    // How `data.prompt_style` arrives from a TOML config file.
    #[derive(serde::Deserialize, serde::Serialize, Debug, Default)]
    #[serde(default)]
    struct Data {
        prompt_style: PromptStyle,
    }
    let read = |text: &str| toml::from_str::<Data>(text).map(|d| d.prompt_style);
    assert_eq!(read(r#"prompt_style = "tag""#).unwrap(), PromptStyle::Tag);
    assert_eq!(read(r#"prompt_style = "instruction""#).unwrap(), PromptStyle::Instruction);
    assert_eq!(read("").unwrap(), PromptStyle::Tag, "the default style is the tag");
    let message = read(r#"prompt_style = "foo""#).unwrap_err().to_string();
    assert!(message.contains("unknown variant `foo`, expected `tag` or `instruction`"), "{message}");
    assert!(message.contains("prompt_style"), "the error names the field: {message}");

    assert_eq!(serde_json::from_str::<PromptStyle>(r#""instruction""#).unwrap(), PromptStyle::Instruction);
    assert!(serde_json::from_str::<PromptStyle>(r#""Tag""#).is_err(), "names are lowercase only");
    assert_eq!(serde_json::to_string(&PromptStyle::Tag).unwrap(), r#""tag""#);
    let written = toml::to_string(&Data { prompt_style: PromptStyle::Instruction }).unwrap();
    assert_eq!(written.trim(), r#"prompt_style = "instruction""#);
}

#[test]
fn chatml_renders_the_generation_prompt() {
    let builder = PromptBuilder::new(PromptStyle::Tag, ChatTemplate::chatml(), TokenCounter::Approximate);
    let text = builder.render(" 法国的首都是哪里？ ", &Lang::new("fr")).unwrap();
    assert_eq!(text, "<|im_start|>user\n法国的首都是哪里？\n<|out_lang_fr|><|im_end|>\n<|im_start|>assistant\n");
    let no_gen = ChatTemplate::chatml().render(&[Message::user("hi")], false).unwrap();
    assert_eq!(no_gen, "<|im_start|>user\nhi<|im_end|>\n");
}

#[test]
fn llama3_template_from_a_tokenizer_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "chat_template": LLAMA3,
        "bos_token": {"content": "<|begin_of_text|>", "lstrip": false},
        "eos_token": "<|eot_id|>",
    });
    std::fs::write(dir.path().join("tokenizer_config.json"), config.to_string()).unwrap();
    let builder = PromptBuilder::for_model(PromptStyle::Instruction, Some(dir.path())).unwrap();
    assert!(!builder.counter().is_exact(), "no tokenizer.json: the estimate is used");
    let text = builder.render("How many legs does a spider have?", &Lang::new("de")).unwrap();
    assert_eq!(
        text,
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHow many legs does a spider have?\n\n\
         Bitte antworte auf Deutsch.<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    );
}

#[test]
fn model_dir_template_sources_and_their_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tokenizer_config.json");
    // No template anywhere: ChatML.
    std::fs::write(&config, r#"{"eos_token": "</s>"}"#).unwrap();
    let text = ChatTemplate::from_model_dir(dir.path()).unwrap().render(&[Message::user("x")], true).unwrap();
    assert!(text.starts_with("<|im_start|>user\nx"), "{text}");
    // A named-template list: `default` is taken.
    std::fs::write(&config, r#"{"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D{{ eos_token }}"}], "eos_token": "</s>"}"#).unwrap();
    assert_eq!(ChatTemplate::from_model_dir(dir.path()).unwrap().render(&[], true).unwrap(), "D</s>");
    // chat_template.jinja wins over the config.
    std::fs::write(dir.path().join("chat_template.jinja"), "J{{ messages[0].content }}").unwrap();
    assert_eq!(ChatTemplate::from_model_dir(dir.path()).unwrap().render(&[Message::user("m")], true).unwrap(), "Jm");

    let bad = |text: &str| {
        std::fs::write(&config, text).unwrap();
        match ChatTemplate::from_tokenizer_config(&config) {
            Err(Error::Input { location, message }) => format!("{location}: {message}"),
            other => panic!("expected an input error, got {other:?}"),
        }
    };
    assert!(bad("{").contains("not JSON"));
    assert!(bad(r#"{"chat_template": 3}"#).contains("field `chat_template`"));
    assert!(bad(r#"{"chat_template": [{"name": "x", "template": "T"}]}"#).contains("named `default`"));
    assert!(bad(r#"{"bos_token": 1}"#).contains("field `bos_token`"));
    assert!(bad(r#"{"chat_template": "{% for %}"}"#).contains("does not compile"));
}

#[test]
fn raise_exception_becomes_an_error() {
    let source =
        "{% for m in messages %}{% if m.role != 'user' %}{{ raise_exception('Only user turns: got ' + m.role) }}\
                  {% endif %}{{ m.content }}{% endfor %}";
    let template = ChatTemplate::new(source, "", "", "test template").unwrap();
    assert_eq!(template.render(&[Message::user("ok")], true).unwrap(), "ok");
    let assistant = Message { role: "assistant".into(), content: "x".into() };
    match template.render(&[assistant], true) {
        Err(Error::Input { location, message }) => {
            assert_eq!(location, "test template");
            assert!(message.contains("Only user turns: got assistant"), "{message}");
        }
        other => panic!("expected an input error, got {other:?}"),
    }
}

#[test]
fn filter_measures_the_longest_real_suffix() {
    // With the estimate, "<|out_lang_xx|>" is one 15-char word (4 tokens) for every code, so the
    // instruction style decides the length; Japanese/Chinese instructions count a token per char.
    let builder = PromptBuilder::new(PromptStyle::Instruction, ChatTemplate::chatml(), TokenCounter::Approximate);
    let (longest, tokens) = builder.longest_language(&default_languages()).unwrap();
    let expected = default_languages()
        .into_iter()
        .map(|l| (TokenCounter::Approximate.count(&format!("\n\n{}", instruction(&l).unwrap())).unwrap(), l))
        .fold(None::<(usize, Lang)>, |best, (n, l)| match best {
            Some((m, _)) if m >= n => best,
            _ => Some((n, l)),
        })
        .unwrap();
    assert_eq!((tokens, &longest), (expected.0, &expected.1));

    let questions: Vec<Question> = (0..6).map(|i| question(&"word ".repeat(i * 10), i as u64, "en")).collect();
    let lengths: Vec<usize> = questions.iter().map(|q| builder.prompt_tokens(&q.question, &longest).unwrap()).collect();
    let limit = lengths[3];
    let outcome = builder.filter_overlong(questions, &default_languages(), limit).unwrap();
    assert_eq!(outcome.kept.iter().map(|q| q.index).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    assert_eq!(outcome.dropped, vec![4, 5]);
    assert!(outcome.to_string().contains("dropped 2 longer than"), "{outcome}");
    // A prompt that fits in English but not in the longest language is dropped (the reference
    // measured one bogus tag instead).
    let q = question(&"word ".repeat(10), 9, "en");
    let en_len = builder.prompt_tokens(&q.question, &Lang::new("en")).unwrap();
    let outcome = builder.filter_overlong(vec![q.clone()], &default_languages(), en_len).unwrap();
    assert_eq!(outcome.dropped, vec![9]);
    let outcome = builder.filter_overlong(vec![q], &[Lang::new("en")], en_len).unwrap();
    assert_eq!((outcome.kept.len(), outcome.dropped.len()), (1, 0));
    assert!(matches!(builder.longest_language(&[]), Err(Error::Config { .. })));
}
