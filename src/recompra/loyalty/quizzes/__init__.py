"""Product-knowledge quizzes: one attempt per period, bonus points on passing."""
