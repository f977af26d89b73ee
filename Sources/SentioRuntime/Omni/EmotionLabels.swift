// Emotion vocabulary of R1-Omni's evaluations (DFEW's 7 classes; MAFW adds 4) and the mapping of a
// free-text answer onto it (RAVDESS-style synonyms such as fearful -> fear, surprised -> surprise).
import Foundation

public enum EmotionLabels {
    public static let dfew = ["happy", "surprise", "neutral", "angry", "disgust", "sad", "fear"]
    public static let mafw = dfew + ["contemptuous", "disappointed", "helpless", "anxious"]

    static let synonyms: [String: String] = [
        "happiness": "happy", "joy": "happy", "joyful": "happy",
        "surprised": "surprise", "anger": "angry", "mad": "angry",
        "disgusted": "disgust", "sadness": "sad", "fearful": "fear", "afraid": "fear", "scared": "fear",
        "contempt": "contemptuous", "disappointment": "disappointed", "helplessness": "helpless",
        "anxiety": "anxious", "calm": "neutral",
    ]

    /// The label an answer names, or nil when it names none of the vocabulary.
    public static func label(for answer: String?) -> String? {
        guard let a = answer?.trimmingCharacters(in: .whitespacesAndNewlines).lowercased(), !a.isEmpty else { return nil }
        let word = a.trimmingCharacters(in: CharacterSet.punctuationCharacters)
        if mafw.contains(word) { return word }
        return synonyms[word]
    }
}
