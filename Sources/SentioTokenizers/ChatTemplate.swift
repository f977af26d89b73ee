// ChatML prompt rendering, the Qwen2 / Qwen2-VL chat template written out in Swift (not a Jinja engine).
//
// What it reproduces of the Qwen2-VL `chat_template` (tokenizer_config.json of the fixture):
//   - when the first message is not a system message, a default system turn
//     "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n" comes first (defaultSystemPrompt; nil
//     turns it off, which the Qwen2-VL template itself never does);
//   - each message: "<|im_start|>{role}\n{content}<|im_end|>\n";
//   - content given as parts: text parts verbatim, an image part as
//     "<|vision_start|><|image_pad|><|vision_end|>", a video part as "<|vision_start|><|video_pad|><|vision_end|>",
//     with "Picture N: " / "Video N: " before them when addVisionID is set (counted over the whole chat);
//   - addGenerationPrompt appends "<|im_start|>assistant\n".
// Not supported: tools / function calling, other templates' control flow, Jinja expressions of any kind.

public struct ChatMessage: Sendable, Equatable {
    public enum Part: Sendable, Equatable {
        case text(String)
        case image
        case video
    }
    public var role: String
    public var parts: [Part]

    public init(role: String, content: String) { self.role = role; self.parts = [.text(content)] }
    public init(role: String, parts: [Part]) { self.role = role; self.parts = parts }

    public static func system(_ s: String) -> ChatMessage { ChatMessage(role: "system", content: s) }
    public static func user(_ s: String) -> ChatMessage { ChatMessage(role: "user", content: s) }
    public static func assistant(_ s: String) -> ChatMessage { ChatMessage(role: "assistant", content: s) }
}

public enum ChatMLTemplate {
    public static let defaultSystemPrompt = "You are a helpful assistant."

    public static func render(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                              defaultSystemPrompt: String? = ChatMLTemplate.defaultSystemPrompt,
                              addVisionID: Bool = false) -> String {
        var out = ""
        var images = 0, videos = 0
        for (i, m) in messages.enumerated() {
            if i == 0 && m.role != "system", let sys = defaultSystemPrompt {
                out += "<|im_start|>system\n\(sys)<|im_end|>\n"
            }
            out += "<|im_start|>\(m.role)\n"
            for p in m.parts {
                switch p {
                case .text(let s): out += s
                case .image:
                    images += 1
                    if addVisionID { out += "Picture \(images): " }
                    out += "<|vision_start|><|image_pad|><|vision_end|>"
                case .video:
                    videos += 1
                    if addVisionID { out += "Video \(videos): " }
                    out += "<|vision_start|><|video_pad|><|vision_end|>"
                }
            }
            out += "<|im_end|>\n"
        }
        if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        return out
    }
}

extension BPETokenizer {
    /// Renders `messages` with the ChatML template and encodes the result (special tokens recognised).
    public func encodeChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true,
                           defaultSystemPrompt: String? = ChatMLTemplate.defaultSystemPrompt) -> [Int32] {
        encode(ChatMLTemplate.render(messages, addGenerationPrompt: addGenerationPrompt,
                                     defaultSystemPrompt: defaultSystemPrompt), allowSpecial: true)
    }
}
