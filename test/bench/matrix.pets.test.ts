import { faultMatrixHop } from './matrixSuite.js';

faultMatrixHop('pets');
