//! The queue carrying operators' commands from [`RolloutHandle`](super::RolloutHandle)s to
//! their run: unbounded, in order, closed for the run once every handle is gone. A few
//! dozen bytes per run until a command is sent (an engine may hold thousands of runs, each
//! with a handle, and commands are rare).

use super::command::Command;
use super::wake_slot::WakeSlot;
use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

/// The fields every wait reads come first, beside the `Arc`'s counts: usually one cache
/// line per wait.
#[repr(C)]
struct Queue {
    /// How many commands are queued, read without the lock: the run looks for a command
    /// at every turn of its loop, and there almost never is one.
    queued: AtomicUsize,
    /// How many senders are left (changed under the lock), read without it by every wait.
    senders: AtomicUsize,
    /// The receiver's task while it waits: woken by a command or by the last sender
    /// leaving.
    wake: WakeSlot,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    commands: VecDeque<Command>,
    receiving: bool,
}

impl Queue {
    /// The oldest queued command, taken under the lock `state` holds.
    fn pop(&self, state: &mut State) -> Option<Command> {
        let cmd = state.commands.pop_front();
        self.queued.store(state.commands.len(), Ordering::SeqCst);
        cmd
    }

    /// The state; a panic elsewhere while it was held leaves plain data, still usable.
    fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A new queue: one sender, one receiver.
pub(crate) fn queue() -> (CommandSender, CommandReceiver) {
    let queue = Arc::new(Queue {
        queued: AtomicUsize::new(0),
        senders: AtomicUsize::new(1),
        wake: WakeSlot::default(),
        state: Mutex::new(State {
            receiving: true,
            ..State::default()
        }),
    });
    (
        CommandSender(queue.clone()),
        CommandReceiver {
            queue,
            registered: None,
        },
    )
}

/// Sends commands; cloning adds a sender.
pub(crate) struct CommandSender(Arc<Queue>);

impl CommandSender {
    /// Queues `cmd`, or hands it back when the receiver is gone.
    pub(crate) fn send(&self, cmd: Command) -> Result<(), Command> {
        {
            let mut state = self.0.state();
            if !state.receiving {
                return Err(cmd);
            }
            state.commands.push_back(cmd);
            self.0.queued.store(state.commands.len(), Ordering::SeqCst);
        }
        // After the push: a receiver registers under the lock, after finding nothing.
        self.0.wake.wake();
        Ok(())
    }
}

impl Clone for CommandSender {
    fn clone(&self) -> Self {
        // Under the lock, so a receiver that saw no sender left is never contradicted.
        let _state = self.0.state();
        self.0.senders.fetch_add(1, Ordering::SeqCst);
        CommandSender(self.0.clone())
    }
}

impl Drop for CommandSender {
    fn drop(&mut self) {
        let last = {
            let _state = self.0.state();
            self.0.senders.fetch_sub(1, Ordering::SeqCst) == 1
        };
        if last {
            self.0.wake.wake();
        }
    }
}

impl std::fmt::Debug for CommandSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandSender")
            .field("queued", &self.0.queued.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// The run's end of the queue.
pub(crate) struct CommandReceiver {
    queue: Arc<Queue>,
    /// A copy of the waker last left in the queue.
    registered: Option<Waker>,
}

impl CommandReceiver {
    /// The next queued command, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Command> {
        if self.queue.queued.load(Ordering::SeqCst) == 0 {
            return None;
        }
        self.queue.pop(&mut self.queue.state())
    }

    /// The next command; `None` once the queue is empty and every sender is gone.
    /// Waiting leaves the task's waker in the queue: nothing to undo when the wait is
    /// dropped (a stale waker only wakes the run once more, and goes with the receiver),
    /// and a wait polled again by the same task, with nothing queued, locks nothing.
    pub(crate) fn recv(&mut self) -> impl Future<Output = Option<Command>> + '_ {
        std::future::poll_fn(move |cx| {
            let q = &*self.queue;
            if q.queued.load(Ordering::SeqCst) == 0
                && q.senders.load(Ordering::SeqCst) > 0
                && q.wake.holds(&self.registered, cx)
            {
                return Poll::Pending;
            }
            let mut state = q.state();
            if let Some(cmd) = q.pop(&mut state) {
                return Poll::Ready(Some(cmd));
            }
            if q.senders.load(Ordering::SeqCst) == 0 {
                return Poll::Ready(None);
            }
            // Under the lock: a command or the last sender's leaving comes after this,
            // and finds the waker.
            q.wake.register(&mut self.registered, cx);
            drop(state);
            Poll::Pending
        })
    }

    /// Whether every sender is gone (commands may still be queued).
    pub(crate) fn is_closed(&self) -> bool {
        self.queue.senders.load(Ordering::SeqCst) == 0
    }
}

impl Drop for CommandReceiver {
    fn drop(&mut self) {
        let q = &*self.queue;
        let commands = {
            let mut state = q.state();
            state.receiving = false;
            q.queued.store(0, Ordering::SeqCst);
            std::mem::take(&mut state.commands)
        };
        // Dropped outside the lock: a waker's drop may run arbitrary code.
        drop((commands, q.wake.take()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::wake_slot::tests::counting;

    #[tokio::test]
    async fn commands_arrive_in_order_and_the_queue_closes_with_its_last_sender() {
        let (tx, mut rx) = queue();
        let other = tx.clone();
        tx.send(Command::Pause).unwrap();
        other.send(Command::Resume).unwrap();
        assert_eq!(rx.try_recv(), Some(Command::Pause));
        assert_eq!(rx.recv().await, Some(Command::Resume));
        assert_eq!(rx.try_recv(), None);
        drop(tx);
        assert!(!rx.is_closed(), "a clone still sends");
        other.send(Command::Abort).unwrap();
        drop(other);
        assert!(rx.is_closed());
        assert_eq!(
            rx.recv().await,
            Some(Command::Abort),
            "queued before closing"
        );
        assert_eq!(rx.recv().await, None);
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_a_command_and_for_the_last_sender_leaving() {
        let (tx, mut rx) = queue();
        let waiting = tokio::spawn(async move {
            let first = rx.recv().await;
            let second = rx.recv().await;
            (first, second)
        });
        tokio::task::yield_now().await;
        tx.send(Command::Retry).unwrap();
        tokio::task::yield_now().await;
        drop(tx);
        assert_eq!(waiting.await.unwrap(), (Some(Command::Retry), None));
    }

    #[test]
    fn the_latest_wait_is_woken_once_by_a_command_and_once_by_the_last_sender_leaving() {
        let (tx, mut rx) = queue();
        let (first, first_waker) = counting();
        let (second, second_waker) = counting();
        {
            let mut wait = std::pin::pin!(rx.recv());
            let mut cx = std::task::Context::from_waker(&first_waker);
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            // Polled again by the same task: nothing changes.
            assert!(wait.as_mut().poll(&mut cx).is_pending());
        }
        // The dropped wait's waker is replaced by the next wait's.
        let mut wait = Box::pin(rx.recv());
        let mut cx = std::task::Context::from_waker(&second_waker);
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        let other = tx.clone();
        tx.send(Command::Pause).unwrap();
        assert_eq!(
            first.0.load(Ordering::SeqCst),
            0,
            "a dropped wait is not woken"
        );
        assert_eq!(second.0.load(Ordering::SeqCst), 1);
        assert_eq!(
            wait.as_mut().poll(&mut cx),
            Poll::Ready(Some(Command::Pause))
        );
        drop(wait);
        let mut wait = Box::pin(rx.recv());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        drop(tx);
        assert_eq!(second.0.load(Ordering::SeqCst), 1, "a sender is left");
        assert_eq!(other.0.senders.load(Ordering::SeqCst), 1);
        drop(other);
        assert_eq!(second.0.load(Ordering::SeqCst), 2, "the last sender left");
        assert_eq!(wait.as_mut().poll(&mut cx), Poll::Ready(None));
    }

    #[test]
    fn a_command_to_a_gone_receiver_comes_back() {
        let (tx, rx) = queue();
        drop(rx);
        assert_eq!(tx.send(Command::Abort), Err(Command::Abort));
    }
}
