// Status-bar item: NPUs held and the budget meter, from /me, e.g.
// "NPU 2 · 13.5 / 40 h this week"; a warning at 80% of the budget; the user's place in
// the line for NPUs while a server or a batch job of theirs waits ("in line: 2").
import { Notification } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { api } from './api';

export function statusText(
  me: any, trans: TranslationBundle
): { text: string; level: string; warnings: string[] } {
  const held = (me.allocations || []).reduce((n: number, a: any) => n + (a.npus || 0), 0);
  const q = (me.quotas || [])[0];
  let text = trans.__('NPU %1', held);
  let level = '';
  if (q && q.npu_hours_budget !== null && q.npu_hours_budget !== undefined) {
    const periods: { [p: string]: string } = {
      day: trans.__('today'), week: trans.__('this week'), month: trans.__('this month')
    };
    const used = Number(q.npu_hours_used || 0);
    text += ' · ' + trans.__('%1 / %2 h %3', used.toFixed(1), q.npu_hours_budget,
      periods[q.period] || q.period);
    const share = q.npu_hours_budget > 0 ? used / q.npu_hours_budget : 1;
    level = share >= 1 ? 'npuhub-over' : share >= 0.8 ? 'npuhub-warning' : '';
  }
  // the platform's own warnings (budget spent, session limit): what will be stopped, when
  const warnings: string[] = [...(me.warnings || [])];
  const line = me.line;
  if (line) {
    text += ' · ' + trans.__('in line: %1', line.position);
    const start = line.estimated_start
      ? new Date(line.estimated_start).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
      : '';
    const what = line.kind === 'job' ? trans.__('Job %1', line.id) : trans.__('Server');
    warnings.unshift(start
      ? trans.__('%1 waits in the line for NPUs (%2): position %3, estimated start %4',
        what, line.npus, line.position, start)
      : trans.__('%1 waits in the line for NPUs (%2): position %3, start time not known yet',
        what, line.npus, line.position));
  }
  // idle NPUs (the service's idle watch): the standing warning, in this language
  const hhmm = (t: string) => String(t || '').slice(11, 16);
  for (const n of me.idle || []) {
    if (!n.stopped) {
      warnings.push(trans.__('Your NPUs (%1) have been idle since %2 UTC: this server will be stopped at %3 UTC unless you use them. Your files are kept.',
        n.npus, hhmm(n.idle_since), hhmm(n.stop_at)));
    }
  }
  if (warnings.length) {
    text += ' ⚠';
    level = 'npuhub-over';
  }
  return { text, level, warnings };
}

export class NPUStatus extends Widget {
  constructor(private trans: TranslationBundle) {
    super();
    this.addClass('npuhub-status');
    this.node.textContent = 'NPU …';
    void this.update_();
    this.timer = window.setInterval(() => void this.update_(), 60_000);
  }

  dispose(): void {
    window.clearInterval(this.timer);
    super.dispose();
  }

  async update_(): Promise<void> {
    try {
      const { text, level, warnings } = statusText(await api('me'), this.trans);
      this.node.textContent = text;
      this.node.title = warnings.length
        ? warnings.join('\n')
        : level ? this.trans.__('Your NPU budget is running low') : '';
      // each new warning once as a notification (it says when the server will stop)
      for (const w of warnings) {
        if (!this.shown.has(w)) {
          this.shown.add(w);
          Notification.warning(w, { autoClose: false });
        }
      }
      this.node.classList.remove('npuhub-warning', 'npuhub-over');
      if (level) {
        this.node.classList.add(level);
      }
    } catch {
      this.node.textContent = this.trans.__('NPU: unavailable');
    }
  }

  private timer: number;
  private shown = new Set<string>();
}
