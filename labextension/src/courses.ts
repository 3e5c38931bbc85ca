// The Courses section of the sidebar: a student's assignments (fetch, submit what is
// on screen, feedback) and an instructor's (release after a look at the student
// version, collect, autograde, grades in their own table with a CSV download).
import { JupyterFrontEnd } from '@jupyterlab/application';
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { api, NPUHubError, readFiles, writeFiles } from './api';
import { button, h } from './dom';
import { gradeByHand } from './grading';

// refusals that are states a person reads, not failures
const INFO = ['no_feedback_yet', 'feedback_after_due', 'feedback_held', 'not_released',
  'not_released_until'];

export function notifyError(e: unknown): void {
  const err = e as NPUHubError;
  const text = String((err && err.message) || e);
  if (err && INFO.includes(err.code)) {
    Notification.info(text, { autoClose: 6000 });
  } else {
    Notification.error(text, { autoClose: 8000 });
  }
}

/** A time as the reader's Lab shows dates: "Jan 2, 2020, 08:00 CST", in the time zone
 * `tz` (a course's) or else the reader's. */
export function when(iso: string | null | undefined, lang: string, tz?: string): string {
  if (!iso) {
    return '';
  }
  const opts: Intl.DateTimeFormatOptions = {
    year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit',
    timeZoneName: 'short'
  };
  try {
    return new Date(iso).toLocaleString(lang, tz ? { ...opts, timeZone: tz } : opts);
  } catch {
    return new Date(iso).toLocaleString(lang, opts);  // a zone this browser lacks
  }
}

/** The open documents under `folder` with unsaved changes, saved (what is on screen). */
async function saveOpen(app: JupyterFrontEnd, folder: string): Promise<string[]> {
  const saved: string[] = [];
  for (const w of Array.from(app.shell.widgets('main'))) {
    const ctx: any = (w as any).context;
    if (ctx && typeof ctx.path === 'string' && ctx.path.startsWith(`${folder}/`) &&
        ctx.model && ctx.model.dirty) {
      await ctx.save();
      saved.push(ctx.path.slice(folder.length + 1));
    }
  }
  return saved;
}

export class CourseSection {
  constructor(
    private app: JupyterFrontEnd, private trans: TranslationBundle,
    private refresh: () => Promise<void>, private lang: string
  ) {}

  render(c: any): HTMLElement {
    const instructor = c.role === 'instructor';
    this.tz = c.timezone;
    const rows = (c.assignments || []).map((a: any) =>
      instructor ? this.instructorRow(c, a) : this.studentRow(c, a));
    const role = instructor ? this.trans.__('instructor') : this.trans.__('student');
    const extra = instructor ? [this.gradesBlock(c)] : [];
    return h('div', { class: 'npuhub-course', 'data-course': c.id },
      h('h4', {}, this.trans.__('%1 (%2)', c.title || c.id, role)), ...rows, ...extra);
  }

  /** the time zone of the course being rendered: its times are shown in it */
  private tz: string | undefined;

  private at(iso: string | null | undefined): string {
    return when(iso, this.lang, this.tz);
  }

  /** "feedback held until the instructor returns it" / "feedback after Jan 2, 08:00" */
  private held(a: any): string {
    const held = a.feedback_held;
    if (!held) {
      return '';
    }
    return held.until === 'instructor' ? this.trans.__('feedback held until the instructor returns it')
      : this.trans.__('feedback after the due date, %1', this.at(held.due));
  }

  private act(label: string, fn: () => Promise<unknown>, primary = false): HTMLElement {
    return button(label, async () => {
      try {
        await fn();
      } catch (e) {
        notifyError(e);
      }
      await this.refresh();
    }, '', primary);
  }

  // ---------------------------------------------------------------- students

  /** "due Jan 2 · attempt 2 · late · submitted Jan 2 14:03 · score 2 / 7" */
  studentState(a: any): string {
    const t = this.trans;
    const parts: string[] = [];
    if (!a.released) {
      const future = a.release && Date.parse(a.release) > Date.now();
      parts.push(future ? t.__('opens %1', this.at(a.release)) : t.__('not released yet'));
    }
    if (a.due) {
      parts.push(t.__('due %1', this.at(a.due)));
    }
    if (a.attempts) {
      parts.push(t.__('attempt %1', a.attempts));
      if (a.late) {
        parts.push(t.__('late'));
      }
      if (a.score !== null && a.score !== undefined) {
        parts.push(t.__('feedback ready'), t.__('score %1 / %2', a.score, a.max_score));
      } else {
        parts.push(t.__('submitted %1', when(a.submitted_at, this.lang)));
        parts.push(this.held(a));
      }
    }
    return parts.filter(Boolean).join(' · ');
  }

  private studentRow(c: any, a: any): HTMLElement {
    const t = this.trans;
    const base = `courses/${c.id}/assignments/${a.name}`;
    const folder = `courses/${c.id}/${a.name}`;
    const buttons = a.released ? [
      this.act(t.__('Fetch'), () => this.fetch(base, folder)),
      this.act(t.__('Submit'), () => this.submit(base, folder, a.name), true),
      ...(a.feedback ? [this.act(t.__('Feedback'), () => this.feedback(base, folder))] : [])
    ] : [];
    return h('div', { class: 'npuhub-row npuhub-assignment', 'data-assignment': `${c.id}/${a.name}` },
      h('span', { class: 'npuhub-name' }, a.name),
      h('span', { class: 'npuhub-state' }, this.studentState(a)),
      h('span', { class: 'npuhub-actions' }, ...buttons));
  }

  private async fetch(base: string, folder: string): Promise<void> {
    const t = this.trans;
    const r = await api(`${base}/fetch`);
    const written = await writeFiles(folder, r.files);
    if (written.length) {
      Notification.success(t._n('Fetched %1 file into ~/%2', 'Fetched %1 files into ~/%2',
        written.length, folder),
        { autoClose: 4000 });
    } else {
      Notification.info(t.__('Fetched 0 files: your work in ~/%1 was kept', folder),
        { autoClose: 6000 });
    }
    await this.app.commands.execute('filebrowser:go-to-path', { path: `/${folder}` });
    const notebook = Object.keys(r.files || {}).sort().find(n => n.endsWith('.ipynb'));
    if (notebook) {
      await this.app.commands.execute('docmanager:open', { path: `${folder}/${notebook}` });
    }
  }

  private async submit(base: string, folder: string, name: string): Promise<void> {
    const t = this.trans;
    const saved = await saveOpen(this.app, folder);
    const files = await readFiles(folder);
    const r = await api(`${base}/submit`, 'POST', { files });
    const at = when(r.submitted_at, this.lang);
    let msg = r.late ? t.__('Submitted %1, attempt %2, at %3 (late)', name, r.attempt, at)
      : t.__('Submitted %1, attempt %2, at %3', name, r.attempt, at);
    if (saved.length) {
      msg = t.__('%1 (saved %2 first)', msg, saved.join(', '));
    }
    Notification.success(msg, { autoClose: 8000 });
  }

  private async feedback(base: string, folder: string): Promise<void> {
    const r = await api(`${base}/feedback`);
    await writeFiles(`${folder}/feedback`, r.files, true);
    await this.app.commands.execute('filebrowser:go-to-path', { path: `/${folder}/feedback` });
    const page = Object.keys(r.files || {}).sort().find(n => n.endsWith('.html'));
    if (page) {
      await this.app.commands.execute('docmanager:open', { path: `${folder}/feedback/${page}` });
    }
  }

  // ---------------------------------------------------------------- instructors

  private instructorRow(c: any, a: any): HTMLElement {
    const t = this.trans;
    const base = `courses/${c.id}/assignments/${a.name}`;
    const future = a.release && Date.parse(a.release) > Date.now();
    const state = [
      a.released ? (a.released_by === 'schedule' ? t.__('released at its release time')
        : t.__('released')) : t.__('not released yet'),
      !a.released && future ? t.__('opens %1', this.at(a.release)) : '',
      a.due ? t.__('due %1', this.at(a.due)) : '', ...this.counts(a),
      a.released ? this.feedbackState(a) : ''
    ].filter(Boolean).join(' · ');
    const failed = a.release_error ? h('span', { class: 'npuhub-state npuhub-release-error' },
      t.__('The release at %1 failed: %2', this.at(a.release),
        a.release_error.message || a.release_error.error)) : '';
    return h('div', { class: 'npuhub-row npuhub-assignment', 'data-assignment': `${c.id}/${a.name}` },
      h('span', { class: 'npuhub-name' }, a.name),
      h('span', { class: 'npuhub-state' }, state), failed,
      h('span', { class: 'npuhub-actions' },
        this.act(t.__('Release'), () => this.release(c, a)),
        ...(a.released && a.feedback_held
          ? [this.act(t.__('Return feedback'), () => this.returnFeedback(c, a))] : []),
        this.act(t.__('Collect'), async () => {
          const r = await api(`${base}/collect`, 'POST', {});
          Notification.success(t._n('Collected %1 submission of %2', 'Collected %1 submissions of %2',
            r.submissions, a.name),
            { autoClose: 6000 });
        }),
        this.act(t.__('Autograde'), () => this.autograde(base, a.name), true)));
  }

  /** "2 submitted · 2 collected · 1 graded · 1 late · 1 newer attempt not graded ·
   * last graded Jan 9, 2026, 08:00 CST" */
  counts(a: any): string[] {
    const t = this.trans;
    const n = a.counts;
    if (!n || !(a.released || n.submitted)) {
      return [];
    }
    return [t.__('%1 submitted', n.submitted), t.__('%1 collected', n.collected),
      t.__('%1 graded', n.graded), n.late ? t.__('%1 late', n.late) : '',
      n.newer ? t._n('%1 newer attempt not graded', '%1 newer attempts not graded', n.newer)
        : '',
      n.last_graded ? t.__('last graded %1', when(n.last_graded, this.lang)) : ''];
  }

  /** "feedback returned" / "feedback held until the instructor returns it" / … */
  private feedbackState(a: any): string {
    if (a.feedback_returned_at) {
      return this.trans.__('feedback returned');
    }
    return this.held(a);
  }

  /** Return feedback: asks first (students then read scores and hidden tests). */
  private async returnFeedback(c: any, a: any): Promise<void> {
    const t = this.trans;
    const body = new Widget();
    body.node.append(h('p', {}, t.__(
      'Students of %1 will read their score and feedback, hidden tests included.',
      c.title || c.id)));
    if (a.feedback_held && a.feedback_held.until === 'due') {
      body.node.append(h('p', {}, t.__(
        'The due date (%1) has not passed yet: students who have not submitted could see the hidden tests.',
        this.at(a.feedback_held.due))));
    }
    const ok = await showDialog({
      title: t.__('Return the feedback of %1?', a.name), body,
      buttons: [Dialog.cancelButton({ label: t.__('Cancel') }),
        Dialog.okButton({ label: t.__('Return feedback') })]
    });
    if (!ok.button.accept) {
      return;
    }
    const r = await api(`courses/${c.id}/assignments/${a.name}/return`, 'POST', {});
    Notification.success(t._n('Returned the feedback of %2 (%1 student graded)',
      'Returned the feedback of %2 (%1 students graded)', r.students, a.name),
    { autoClose: 6000 });
  }

  /** Release: the student version opens first, then a dialog asks before releasing. */
  private async release(c: any, a: any): Promise<void> {
    const t = this.trans;
    const base = `courses/${c.id}/assignments/${a.name}`;
    const preview = await api(`${base}/fetch`);
    const folder = `courses/${c.id}/student-version/${a.name}`;
    await writeFiles(folder, preview.files, true);
    const names = Object.keys(preview.files || {}).sort();
    const notebook = names.find(n => n.endsWith('.ipynb'));
    if (notebook) {
      await this.app.commands.execute('docmanager:open', { path: `${folder}/${notebook}` });
    }
    const body = new Widget();
    body.node.append(
      h('p', {}, t._n('The student version (%1 file) is open in ~/%2.',
        'The student version (%1 files) is open in ~/%2.', names.length, folder)),
      h('p', {}, t.__('Students of %1 will be able to fetch it.', c.title || c.id)));
    const ok = await showDialog({
      title: t.__('Release %1?', a.name), body,
      buttons: [Dialog.cancelButton({ label: t.__('Cancel') }),
        Dialog.okButton({ label: t.__('Release') })]
    });
    if (!ok.button.accept) {
      return;
    }
    await api(`${base}/release`, 'POST', {});
    Notification.success(t.__('Released %1', a.name), { autoClose: 4000 });
  }

  private async autograde(base: string, name: string): Promise<void> {
    const t = this.trans;
    // grading runs in the background: follow its progress in a notification
    let r = await api(`${base}/autograde?wait=0`, 'POST', {});
    const progress = () => t.__('Grading %1: %2 of %3 done…', name, r.done, r.total);
    const id = Notification.emit(progress(), 'in-progress', { autoClose: false });
    while (r.state === 'running') {
      await new Promise(resolve => setTimeout(resolve, 2000));
      r = await api(`${base}/autograde`);
      Notification.update({ id, message: progress() });
    }
    if (r.state === 'failed') {
      Notification.update({ id, message: r.error || t.__('Autograding failed'), type: 'error',
        autoClose: false });
      return;
    }
    Notification.update({ id, message: t._n('Graded %1 submission', 'Graded %1 submissions',
      r.graded),
      type: 'success', autoClose: 4000 });
  }

  /** Grades: a button that shows the table (counts per assignment, a row per student);
   * once shown, it stays open, with fresh numbers, when the sidebar is refreshed. */
  private gradesBlock(c: any): HTMLElement {
    const t = this.trans;
    const box = h('div', { class: 'npuhub-grades' });
    const load = async () => {
      try {
        box.replaceChildren(this.gradesTable(c, await api(`courses/${c.id}/grades`)));
      } catch (e) {
        this.gradesShown.delete(c.id);
        notifyError(e);
      }
    };
    if (this.gradesShown.has(c.id)) {
      void load();
    }
    const show = async () => {
      this.gradesShown.add(c.id);  // a refresh while it loads shows it too
      await load();
    };
    return h('div', { class: 'npuhub-grades-block' }, button(t.__('Grades'), show), box);
  }

  private gradesShown = new Set<string>();

  gradesTable(c: any, rows: any[]): HTMLElement {
    const t = this.trans;
    const counts = (c.assignments || []).map((a: any) => {
      const mine = rows.filter(r => r.assignment === a.name);
      return t.__('%1: %2 graded, %3 late', a.name, mine.length,
        mine.filter(r => r.late).length);
    });
    const head = h('tr', {}, ...[t.__('Student'), t.__('Assignment'), t.__('Score'),
      t.__('Attempt'), t.__('Late'), t.__('By hand')].map(x => h('th', {}, x)));
    let view: HTMLElement;
    // cells a person grades (or the autograder flagged): a button opens them
    const byHand = (r: any) => r.needs_manual_grading || r.needs_review
      ? button(t.__('Grade by hand'), async () => {
        try {
          if (await gradeByHand(c.id, r.assignment, r.student, t)) {
            view.replaceWith(this.gradesTable(c, await api(`courses/${c.id}/grades`)));
          }
        } catch (e) {
          notifyError(e);
        }
      }, 'npuhub-grade-by-hand') : '';
    const body = rows.map(r => h('tr', { 'data-student': r.student,
      'data-assignment': r.assignment },
    h('td', {}, r.student), h('td', {}, r.assignment),
    h('td', {}, `${r.score} / ${r.max_score}`), h('td', {}, String(r.attempt)),
    h('td', {}, r.late ? t.__('late') : ''), h('td', {}, byHand(r))));
    const csv = h('a', {
      class: 'npuhub-csv', download: `${c.id}-grades.csv`,
      href: `npuhub/api/courses/${encodeURIComponent(c.id)}/grades?format=csv`
    }, t.__('Download CSV'));
    csv.addEventListener('click', ev => {
      ev.preventDefault();
      void this.downloadCsv(c.id);
    });
    view = h('div', { class: 'npuhub-grades-view' },
      h('div', { class: 'npuhub-counts' }, counts.join(' · ') || t.__('No grades yet')),
      rows.length ? h('table', { class: 'npuhub-table' }, h('thead', {}, head),
        h('tbody', {}, ...body)) : '',
      csv);
    return view;
  }

  private async downloadCsv(cid: string): Promise<void> {
    const rows: any[] = await api(`courses/${cid}/grades`);
    const cols = ['student', 'assignment', 'score', 'max_score', 'attempt', 'late',
      'submitted_at'];
    const cell = (v: unknown) => {
      const s = v === null || v === undefined ? '' : String(v);
      return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
    };
    const text = [cols.join(','), ...rows.map(r => cols.map(k => cell(r[k])).join(','))]
      .join('\n') + '\n';
    const a = document.createElement('a');
    a.href = URL.createObjectURL(new Blob([text], { type: 'text/csv' }));
    a.download = `${cid}-grades.csv`;
    document.body.append(a);
    a.click();
    a.remove();
  }
}
