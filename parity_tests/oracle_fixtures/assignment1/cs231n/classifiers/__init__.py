from cs231n.classifiers.linear_svm import *
from cs231n.classifiers.neural_net import *
