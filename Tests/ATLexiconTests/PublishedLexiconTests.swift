import ATData
import ATLexicon
import Foundation
import TestSupport
import Testing

/// The published Lexicons (`../shared/lexicons`, read at test time): our parser accepts all of them,
/// and the built-in catalog says exactly what they say about every definition it holds.
@Suite struct PublishedLexiconTests {
    static func publishedDocuments() throws -> [String: LexiconDocument] {
        let root = try SharedVectors.lexiconsDirectory()
        var documents: [String: LexiconDocument] = [:]
        let enumerator = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil))
        for case let url as URL in enumerator where url.pathExtension == "json" {
            do {
                let document = try LexiconDocument(jsonBytes: [UInt8](Data(contentsOf: url)))
                documents[document.id] = document
            } catch {
                Issue.record("\(url.path): \(error)")
            }
        }
        return documents
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the published Lexicons: ../shared or PDS_SHARED_DIR"))
    func everyPublishedLexiconParses() throws {
        let documents = try Self.publishedDocuments()
        #expect(documents.count >= 400, "expected the ~402 published Lexicons, parsed \(documents.count)")
    }

    @Test(.enabled(if: SharedVectors.enabled, "needs the published Lexicons: ../shared or PDS_SHARED_DIR"))
    func builtInDefinitionsMatchThePublishedOnes() throws {
        let published = try Self.publishedDocuments()
        var compared = 0
        for (id, ours) in LexiconCatalog.builtIn.documents {
            guard let theirs = published[id] else {
                Issue.record("\(id) is built in but not published")
                continue
            }
            for (name, definition) in ours.defs {
                #expect(theirs.defs[name] == definition, "\(id)#\(name) differs from the published Lexicon")
                compared += 1
            }
        }
        #expect(compared >= 50)
    }

    @Test func builtInCatalogIsClosedUnderRefs() {
        #expect(LexiconCatalog.builtIn.unresolvedRefs().isEmpty)
    }

    /// A record type the Bluesky app may write and the catalog lacks would be stored unvalidated;
    /// this notices when the published set grows.
    @Test(.enabled(if: SharedVectors.enabled, "needs the published Lexicons: ../shared or PDS_SHARED_DIR"))
    func builtInCoversEveryBlueskyRecordType() throws {
        let published = try Self.publishedDocuments()
        let recordTypes = published.values.filter { document in
            guard case .record? = document.defs["main"] else { return false }
            return document.id.hasPrefix("app.bsky.") || document.id.hasPrefix("chat.bsky.") || document.id.hasPrefix("com.atproto.")
        }.map(\.id)
        #expect(recordTypes.count >= 18)
        for id in recordTypes {
            #expect(LexiconCatalog.builtIn.recordSchema(id) != nil, "\(id) is a published record type missing from the built-in catalog")
        }
    }
}
