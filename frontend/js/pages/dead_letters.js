/* The Architecture page's "Messages that could not be handled" card: the dead letters of each
 * work queue (GET /api/dead-letters), in words, with a way to try them again or let them go. */

import { el, api, ago } from '../core.js';

const QUEUE_WORDS = {
  'trainer.jobs': 'Training requests (for the trainers)',
  'gateway.records': 'Training news (for the database)',
};
const TYPE_WORDS = {
  'training.requested': 'A request to train',
  'training.started': 'Training started',
  'training.progress': 'Training progress',
  'training.succeeded': 'Training finished with a model',
  'training.failed': 'Training failed',
  'training.cancelled': 'Training cancelled',
};
const SHOWN = 5;

export function deadLetterCard() {
  const card = el('section', 'card');
  card.setAttribute('aria-labelledby', 'arch-dead-title');
  const title = el('h2', null, 'Messages that could not be handled');
  title.id = 'arch-dead-title';
  const intro = el('p', 'intro',
    'A message that fails for good, or that waits too long for the database or the broker, is kept '
    + 'here instead of being lost. Once the problem is fixed, try it again; or let it go.');
  const body = el('div', 'arch-dead');
  const status = el('p', 'hint');
  status.setAttribute('role', 'status');
  status.setAttribute('aria-live', 'polite');
  card.append(title, intro, body, status);

  async function refresh() {
    try {
      const { queues } = await api('GET', '/api/dead-letters?limit=' + SHOWN);
      render(queues);
    } catch (err) {
      body.replaceChildren(el('p', 'hint', err.message));
    }
  }

  function render(queues) {
    const waiting = queues.filter((q) => q.count > 0);
    if (!waiting.length) {
      body.replaceChildren(el('p', null, 'None: every message was handled.'));
      return;
    }
    body.replaceChildren(...waiting.map(renderQueue));
  }

  function renderQueue(queue) {
    const box = el('div', 'arch-dead-queue');
    const name = QUEUE_WORDS[queue.queue] || queue.queue;
    const count = queue.count === 1 ? '1 message' : `${queue.count} messages`;
    box.append(el('h3', 'subhead', `${name}: ${count}`));
    const list = el('ul', 'arch-dead-list');
    for (const item of queue.items) {
      const what = TYPE_WORDS[item.type] || 'An unreadable message';
      const about = item.correlation_id ? ` (training run ${item.correlation_id.slice(0, 8)})` : '';
      const when = item.dead_at ? `, ${ago(item.dead_at)}` : '';
      const line = el('li', null, `${what}${about}${when}. ${item.explanation}`);
      if (item.error) line.title = item.error;
      list.append(line);
    }
    if (queue.count > queue.items.length) {
      list.append(el('li', 'hint', `…and ${queue.count - queue.items.length} more.`));
    }
    const actions = el('div', 'actions');
    const again = el('button', 'btn btn-primary', 'Try them again');
    const drop = el('button', 'btn btn-secondary', 'Discard them');
    again.type = drop.type = 'button';
    again.addEventListener('click', () => settle(queue, 'replay', again));
    drop.addEventListener('click', () => {
      if (window.confirm(`Discard ${count}? They cannot be brought back.`)) settle(queue, 'discard', drop);
    });
    actions.append(again, drop);
    box.append(list, actions);
    return box;
  }

  async function settle(queue, action, button) {
    button.disabled = true;
    try {
      const done = await api('POST', `/api/dead-letters/${encodeURIComponent(queue.queue)}/${action}`, {});
      const n = done.count === 1 ? '1 message' : `${done.count} messages`;
      status.textContent = action === 'replay' ? `${n} sent again.` : `${n} discarded.`;
    } catch (err) {
      status.textContent = err.message;
    } finally {
      button.disabled = false;
      refresh();
    }
  }

  return { card, refresh };
}
