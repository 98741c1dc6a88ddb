import NIOCore

/// A task executor that runs every job on one NIO event loop.
///
/// A connection's task (Hummingbird starts one per connection) runs on whichever event loop the
/// global executor picks, which is not always the loop that owns the connection's channel; each
/// request then crossed threads twice (the channel's reads to the task, the task's writes back),
/// with a wake-up each way. Preferring the channel's own loop keeps a connection on one thread
/// (docs/ARCHITECTURE.md, "Where the time goes").
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
