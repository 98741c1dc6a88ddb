import Foundation
import Multiformats
import PDSNetwork
import Testing

/// The pure parts of e-mail: SMTP replies (RFC 5321 §4.2), AUTH encodings (RFC 4616 §4's
/// example), dot-stuffing (§4.5.2), RFC 5322/2047 rendering, and the configuration keys.
@Suite struct SMTPDialogueTests {
    @Test func parsesSingleAndMultiLineReplies() throws {
        var parser = SMTPReplyParser()
        #expect(try parser.consume("250-mail.example.com Hello") == nil)
        #expect(try parser.consume("250-AUTH PLAIN LOGIN CRAM-MD5") == nil)
        #expect(try parser.consume("250-STARTTLS") == nil)
        let reply = try #require(try parser.consume("250 8BITMIME"))
        #expect(reply.code == 250 && reply.lines.count == 4 && reply.isPositive)
        #expect(reply.extensions["AUTH"] == ["PLAIN", "LOGIN", "CRAM-MD5"])
        #expect(reply.extensions["STARTTLS"] == [])
        #expect(reply.extensions["MAIL.EXAMPLE.COM"] == nil, "the first line is the greeting, not a keyword")
        let short = try #require(try parser.consume("354"))
        #expect(short.code == 354 && short.isIntermediate)
        #expect(try #require(try parser.consume("535 5.7.8 nope")).isPermanentFailure)
    }

    @Test func refusesMalformedReplies() {
        var parser = SMTPReplyParser()
        #expect(throws: SMTPReplyParser.Malformed.self) { try parser.consume("hello") }
        #expect(throws: SMTPReplyParser.Malformed.self) { try parser.consume("699 out of range") }
        #expect(throws: SMTPReplyParser.Malformed.self) { try parser.consume("250_x") }
        var mixed = SMTPReplyParser()
        _ = try? mixed.consume("250-first")
        #expect(throws: SMTPReplyParser.Malformed.self) { try mixed.consume("251 other code") }
    }

    @Test func authEncodings() {
        // RFC 4616 §4: "\0tim\0tanstaaftanstaaf".
        #expect(SMTPDialogue.plainInitialResponse(username: "tim", password: "tanstaaftanstaaf") == "AHRpbQB0YW5zdGFhZnRhbnN0YWFm")
        #expect(SMTPDialogue.loginResponse("user") == "dXNlcg==")
        #expect(SMTPDialogue.chooseMechanism(offered: ["CRAM-MD5", "LOGIN", "PLAIN"]) == .plain)
        #expect(SMTPDialogue.chooseMechanism(offered: ["LOGIN"]) == .login)
        #expect(SMTPDialogue.chooseMechanism(offered: ["XOAUTH2"]) == nil)
    }

    @Test func dotStuffsAndTerminatesWithCRLF() {
        let payload = String(decoding: SMTPDialogue.dataPayload(Array(".a\nb\r\n..c\rd".utf8)), as: UTF8.self)
        #expect(payload == "..a\r\nb\r\n...c\r\nd\r\n.\r\n")
        #expect(String(decoding: SMTPDialogue.dataPayload(Array("x\r\n".utf8)), as: UTF8.self) == "x\r\n.\r\n")
        #expect(String(decoding: SMTPDialogue.dataPayload(Array(".\r\n".utf8)), as: UTF8.self) == "..\r\n.\r\n")
        #expect(!SMTPDialogue.isSafeArgument("a@b.c>\r\nRCPT TO:<evil@x.y"))
    }

    @Test func rendersRFC5322WithMIME() throws {
        let message = EmailMessage(fromAddress: "pds@example.com", fromName: "Ålice's PDS", to: "alice@example.net",
                                   subject: "Code für dich", body: "Your code: ABCDE-12345\nBye")
        let text = String(decoding: message.rendered(unixTime: 1_796_614_443, messageID: "id1@example.com"), as: UTF8.self)
        let (head, body) = try #require(text.range(of: "\r\n\r\n").map { (String(text[..<$0.lowerBound]), String(text[$0.upperBound...])) })
        let headers = head.components(separatedBy: "\r\n")
        #expect(headers.contains("Date: Mon, 07 Dec 2026 03:34:03 +0000"))
        #expect(headers.contains("To: alice@example.net"))
        #expect(headers.contains("Message-ID: <id1@example.com>"))
        #expect(headers.contains("MIME-Version: 1.0"))
        #expect(headers.contains("Content-Type: text/plain; charset=utf-8"))
        #expect(headers.contains("Subject: =?utf-8?b?" + Base64.encode(Array("Code für dich".utf8), padded: true) + "?="))
        #expect(headers.contains { $0.hasPrefix("From: =?utf-8?b?") && $0.hasSuffix(" <pds@example.com>") })
        #expect(head.utf8.allSatisfy { $0 < 128 }, "headers are 7-bit")
        #expect(headers.contains("Content-Transfer-Encoding: 7bit"))
        #expect(body == "Your code: ABCDE-12345\r\nBye\r\n")
        // A non-ASCII body goes base64.
        let utf8 = EmailMessage(fromAddress: "a@b.cd", to: "c@d.ef", subject: "x", body: "Grüße")
        let rendered = String(decoding: utf8.rendered(unixTime: 0, messageID: "m@b.cd"), as: UTF8.self)
        #expect(rendered.contains("Date: Thu, 01 Jan 1970 00:00:00 +0000"))
        #expect(rendered.contains("Content-Transfer-Encoding: base64\r\n\r\n" + Base64.encode(Array("Grüße".utf8), padded: true) + "\r\n"))
    }

    @Test func loadsSettingsAndKeepsThePasswordOut() throws {
        #expect(try SMTPSettings.load(from: [:]) == nil)
        let implicit = try #require(try SMTPSettings.load(from: ["PDS_EMAIL_SMTP_URL": "smtps://mailer%40x@mail.example.com",
                                                                  "PDS_EMAIL_FROM": "My PDS <pds@example.com>"]))
        #expect(implicit.security == .implicitTLS && implicit.port == 465 && implicit.username == "mailer@x")
        #expect(implicit.fromAddress == "pds@example.com" && implicit.fromName == "My PDS")
        let starttls = try #require(try SMTPSettings.load(from: ["PDS_EMAIL_SMTP_URL": "smtp://u:p%40ss@mail.example.com",
                                                                  "PDS_EMAIL_FROM": "pds@example.com"]))
        #expect(starttls.security == .startTLS && starttls.port == 587 && starttls.password == "p@ss")
        #expect(!"\(starttls)".contains("p@ss"))
        struct Holder { var email: SMTPSettings? }
        #expect(!String(describing: Holder(email: starttls)).contains("p@ss"), "a configuration printed whole")
        var dumped = ""
        dump(starttls, to: &dumped)
        #expect(!dumped.contains("p@ss"))
        #expect(SMTPClient(settings: starttls, heloName: "127.0.0.1").heloName == "[127.0.0.1]")
        #expect(SMTPClient(settings: starttls, heloName: "::1").heloName == "[IPv6:::1]")
        #expect(SMTPClient(settings: starttls, heloName: "pds.example.com").heloName == "pds.example.com")
        #expect(throws: SMTPSettings.Invalid.self) { try SMTPSettings.load(from: ["PDS_EMAIL_SMTP_URL": "http://x.y", "PDS_EMAIL_FROM": "a@b.cd"]) }
        #expect(throws: SMTPSettings.Invalid.self) { try SMTPSettings.load(from: ["PDS_EMAIL_SMTP_URL": "smtps://x.y"]) }
        #expect(throws: SMTPSettings.Invalid.self) { try SMTPSettings.load(from: ["PDS_EMAIL_FROM": "a@b.cd"]) }

        let directory = NSTemporaryDirectory() + "pds-smtp-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/smtp-password"
        #expect(FileManager.default.createFile(atPath: file, contents: Data("file secret\n".utf8), attributes: [.posixPermissions: 0o644]))
        let values = ["PDS_EMAIL_SMTP_URL": "smtp://u@mail.example.com", "PDS_EMAIL_FROM": "a@b.cd", "PDS_EMAIL_SMTP_PASSWORD_FILE": "smtp-password"]
        let loose = #expect(throws: SMTPSettings.Invalid.self) { try SMTPSettings.load(from: values, credentialsDirectory: directory) }
        #expect(loose?.description.contains("chmod 600") == true)
        #expect(loose?.description.contains("file secret") == false)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        let loaded = try #require(try SMTPSettings.load(from: values, credentialsDirectory: directory))
        #expect(loaded.password == "file secret")
        try loaded.requireUsable()
        // Outside systemd (the owner's CLI commands) a credential name loads, and only the server refuses it.
        let outside = try #require(try SMTPSettings.load(from: values, credentialsDirectory: nil))
        #expect(outside.password == nil)
        let refused = #expect(throws: SMTPSettings.Invalid.self) { try outside.requireUsable() }
        #expect(refused?.description.contains("CREDENTIALS_DIRECTORY") == true)
        var absolute = values
        absolute["PDS_EMAIL_SMTP_PASSWORD_FILE"] = file
        #expect(try SMTPSettings.load(from: absolute, credentialsDirectory: nil)?.password == "file secret")
    }
}
