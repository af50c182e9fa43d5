//! The queue carrying operators' commands from [`RolloutHandle`](super::RolloutHandle)s to
//! their run: unbounded, in order, closed for the run once every handle is gone. A few
//! dozen bytes per run until a command is sent (an engine may hold thousands of runs, each
//! with a handle, and commands are rare).

use super::command::Command;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

struct Queue {
    state: Mutex<State>,
    /// How many commands are queued, read without the lock: the run looks for a command
    /// at every turn of its loop, and there almost never is one.
    queued: AtomicUsize,
    /// Wakes the receiver: a command was sent or the last sender left.
    wake: Notify,
}

#[derive(Default)]
struct State {
    commands: VecDeque<Command>,
    senders: usize,
    receiving: bool,
}

impl Queue {
    /// The oldest queued command, taken under the lock `state` holds.
    fn pop(&self, state: &mut State) -> Option<Command> {
        let cmd = state.commands.pop_front();
        self.queued.store(state.commands.len(), Ordering::Release);
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
        state: Mutex::new(State {
            senders: 1,
            receiving: true,
            ..State::default()
        }),
        queued: AtomicUsize::new(0),
        wake: Notify::new(),
    });
    (CommandSender(queue.clone()), CommandReceiver(queue))
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
            self.0.queued.store(state.commands.len(), Ordering::Release);
        }
        self.0.wake.notify_one();
        Ok(())
    }
}

impl Clone for CommandSender {
    fn clone(&self) -> Self {
        self.0.state().senders += 1;
        CommandSender(self.0.clone())
    }
}

impl Drop for CommandSender {
    fn drop(&mut self) {
        let last = {
            let mut state = self.0.state();
            state.senders -= 1;
            state.senders == 0
        };
        if last {
            self.0.wake.notify_one();
        }
    }
}

impl std::fmt::Debug for CommandSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandSender")
            .field("queued", &self.0.state().commands.len())
            .finish_non_exhaustive()
    }
}

/// The run's end of the queue.
pub(crate) struct CommandReceiver(Arc<Queue>);

impl CommandReceiver {
    /// The next queued command, without waiting.
    pub(crate) fn try_recv(&mut self) -> Option<Command> {
        if self.0.queued.load(Ordering::Acquire) == 0 {
            return None;
        }
        self.0.pop(&mut self.0.state())
    }

    /// The next command; `None` once the queue is empty and every sender is gone.
    pub(crate) async fn recv(&mut self) -> Option<Command> {
        loop {
            {
                let mut state = self.0.state();
                if let Some(cmd) = self.0.pop(&mut state) {
                    return Some(cmd);
                }
                if state.senders == 0 {
                    return None;
                }
            }
            // A send between the check and this wait left a permit: no wake-up is lost.
            self.0.wake.notified().await;
        }
    }

    /// Whether every sender is gone (commands may still be queued).
    pub(crate) fn is_closed(&self) -> bool {
        self.0.state().senders == 0
    }
}

impl Drop for CommandReceiver {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.receiving = false;
        state.commands.clear();
        self.0.queued.store(0, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_command_to_a_gone_receiver_comes_back() {
        let (tx, rx) = queue();
        drop(rx);
        assert_eq!(tx.send(Command::Abort), Err(Command::Abort));
    }
}
