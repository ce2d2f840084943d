"""The Sudoku task: geometry, checker, solver, generator, symmetries and CSV loader."""
from .board import LENGTH, MASK_ID, VOCAB_SIZE, is_solved, pretty, relation_ids, to_string
from .csv_loader import SudokuCSVError, SudokuSet, load_sudoku_csv
from .solver import random_grid, solve
from .symmetry import random_symmetry
from .task import SudokuTask

__all__ = ["LENGTH", "MASK_ID", "VOCAB_SIZE", "is_solved", "pretty", "relation_ids", "to_string",
           "SudokuCSVError", "SudokuSet", "load_sudoku_csv", "random_grid", "solve",
           "random_symmetry", "SudokuTask"]
