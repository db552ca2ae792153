import { okxContract } from './okx-contract.js'

okxContract('spot')
