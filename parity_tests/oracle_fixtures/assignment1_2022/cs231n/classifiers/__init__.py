from .linear_svm import *
from .softmax import *
from .linear_classifier import *
from .fc_net import *
