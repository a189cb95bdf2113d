# Read by ctest after the discovered tests: the longest entries start first, so that a 2-core run
# (ctest -j2 on a fresh clone, which has no timing history yet) does not end with one of them running
# alone. Seconds measured on a fresh clone of a 2-core CI-like machine.
set_tests_properties(Trainer.LearnsSyntheticOrgansToHighDice PROPERTIES COST 136)
set_tests_properties(install_tree_consumer PROPERTIES COST 56)
set_tests_properties(Precision.Bf16TrainingLearnsLikeFloat32 PROPERTIES COST 49)
set_tests_properties(Distributed.KilledOrHungRankStopsTheOtherWithAnErrorAndTheCheckpointResumes PROPERTIES COST 29)
set_tests_properties(Reliability.TrainingSurvivesKillsAndRefusesToOverwrite PROPERTIES COST 20)
