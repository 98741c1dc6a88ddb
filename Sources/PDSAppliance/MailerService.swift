import Logging
import PDSCore
import ServiceLifecycle

/// Runs the e-mail delivery loop (`Mailer.run`) with the server, when SMTP is configured.
struct MailerService: Service {
    let mailer: Mailer
    let logger: Logger

    /// The service to add to the application: the loop when e-mail is on, else none.
    static func services(_ email: AccountEmail, logger: Logger) -> [any Service] {
        guard let mailer = email.mailer else { return [] }
        return [MailerService(mailer: mailer, logger: logger)]
    }

    func run() async throws {
        let pending = (try? mailer.pendingCount()) ?? 0
        logger.info("e-mail enabled", metadata: ["smtp": "\(mailer.settings)", "queued": "\(pending)"])
        // The loop ends when its task is cancelled: at graceful shutdown.
        await cancelWhenGracefulShutdown { await mailer.run() }
    }
}
