// Grading by hand, from an instructor's grades table: the cells of a student's latest
// graded submission that need a person (answers nbgrader leaves to a person, task cells,
// cells the autograder flagged), each with the student's answer, the solution and the mark
// scheme, and points (0 to the cell's) and a comment, saved over the platform API
// (GET|PUT …/assignments/{a}/submissions/{student}/grades).
import { Dialog, Notification, showDialog } from '@jupyterlab/apputils';
import { TranslationBundle } from '@jupyterlab/translation';
import { Widget } from '@lumino/widgets';

import { api } from './api';
import { h } from './dom';

interface Entry {
  notebook: string;
  grade_id: string;
  points: HTMLInputElement;
  comment: HTMLTextAreaElement;
}

function block(label: string, text: string | null, cls: string): HTMLElement | string {
  return text ? h('div', { class: `npuhub-manual-${cls}` }, h('b', {}, label),
    h('pre', {}, text)) : '';
}

function cellForm(nb: string, c: any, t: TranslationBundle, entries: Entry[]): HTMLElement {
  const points = h('input', {
    type: 'number', min: '0', max: String(c.max_points), step: 'any',
    'aria-label': t.__('Points for %1', c.grade_id)
  }) as HTMLInputElement;
  points.value = c.points === null || c.points === undefined ? '' : String(c.points);
  const comment = h('textarea', { rows: '2', 'aria-label': t.__('Comment on %1', c.grade_id) }
  ) as HTMLTextAreaElement;
  comment.value = c.comment || '';
  entries.push({ notebook: nb, grade_id: c.grade_id, points, comment });
  const auto = c.auto_points === null || c.auto_points === undefined ? '' :
    t.__('automatic: %1', c.auto_points);
  return h('div', { class: 'npuhub-manual-cell', 'data-grade-id': c.grade_id },
    h('div', { class: 'npuhub-manual-head' },
      h('b', {}, c.grade_id), ` · ${c.kind === 'task' ? t.__('task') : t.__('answer')}`,
      ` · ${t.__('out of %1', c.max_points)}`, auto ? ` · ${auto}` : '',
      c.review ? ` · ${t.__('flagged: needs review')}` : ''),
    block(t.__('Answer'), c.answer, 'answer'),
    block(t.__('Solution'), c.solution, 'solution'),
    block(t.__('Mark scheme'), c.mark_scheme, 'scheme'),
    h('label', { class: 'npuhub-field' }, h('span', {}, t.__('Points')), points),
    h('label', { class: 'npuhub-field' }, h('span', {}, t.__('Comment')), comment));
}

/** The dialog; true if grades were saved. */
export async function gradeByHand(
  cid: string, assignment: string, student: string, t: TranslationBundle
): Promise<boolean> {
  const path = `courses/${encodeURIComponent(cid)}/assignments/` +
    `${encodeURIComponent(assignment)}/submissions/${encodeURIComponent(student)}/grades`;
  const sheet = await api(path);
  const entries: Entry[] = [];
  const cells = (sheet.notebooks || []).flatMap((nb: any) =>
    nb.cells.map((c: any) => cellForm(nb.notebook, c, t, entries)));
  const body = h('div', { class: 'npuhub-manual' },
    h('div', { class: 'npuhub-meta' }, t.__('Attempt %1 · score %2 / %3', sheet.attempt,
      sheet.score, sheet.max_score)),
    ...(cells.length ? cells : [t.__('Nothing in this submission is graded by hand')]));
  const result = await showDialog({
    title: t.__('Grade %1 by hand: %2', assignment, student),
    body: new Widget({ node: body }),
    buttons: [Dialog.cancelButton({ label: t.__('Cancel') }),
      Dialog.okButton({ label: t.__('Save grades') })]
  });
  if (!result.button.accept || !entries.length) {
    return false;
  }
  const grades = entries.map(e => ({
    notebook: e.notebook, grade_id: e.grade_id,
    points: e.points.value.trim() === '' ? null : Number(e.points.value),
    comment: e.comment.value
  }));
  const saved = await api(path, 'PUT', { grades });
  Notification.success(t.__('Saved: %1 now has %2 / %3 in %4', student, saved.score,
    saved.max_score, assignment), { autoClose: 5000 });
  return true;
}
