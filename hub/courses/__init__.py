"""Courses: nbgrader-format assignments from release to scores.

The pure parts take and return `nbformat.NotebookNode`s; only `release_folder` and the
grader touch the file system, and only `grader` talks to Docker.

    assignment.release(source_nb) -> (student_nb, checksums)
    assignment.release_folder(src_dir, out_dir) -> {notebook relpath: checksums}
    grading.prepare_for_grading(submitted_nb, source_nb) -> nb
    grader.grade_in_container(prepared_nb_path, out_path, *, image, timeout, ...) -> nb
    grading.score(executed_nb) -> {"cells": [...], "score", "max_score", ...}
    grading.tampered(submitted_nb, checksums) -> [grade_id, ...]
    feedback.feedback_html(executed_nb, result) -> str
    grades.grades_csv(rows) -> str
    manual.combine(result, manual_grades, late) -> the grade: automatic + by hand - penalty
    lateness.zone(name), lateness.penalty(policy, submitted, due) -> time zone, lateness
    export.export_course(store.export_data(course), dir) -> nbgrader's folder and gradebook
    schedule.release_due(store) -> releases whose `release` time came (the service's loop)
"""
