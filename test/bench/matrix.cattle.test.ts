import { faultMatrixHop } from './matrixSuite.js';

faultMatrixHop('cattle');
